"""Emitting events: deduplicated while open (or forever with once=True), also under concurrency."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, update

from core.db.enums import NotificationEventType, NotificationStatus, Severity
from core.db.session import Database
from core.notify.events import emit_event
from core.notify.models import NotificationEvent
from core.tenancy.models import Tenant


async def _emit(db: Database, tenant: Tenant, fingerprint: str, *, once: bool = False) -> bool:
    async with db.tenant_uow(tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.high,
            fingerprint=fingerprint,
            payload={"host": "example.com"},
            once=once,
        )
        return event is not None


async def _count(db: Database, tenant: Tenant, fingerprint: str) -> int:
    async with db.tenant_uow(tenant.id) as session:
        found = await session.scalar(
            select(func.count()).where(NotificationEvent.fingerprint == fingerprint)
        )
    return int(found or 0)


async def test_open_event_suppresses_its_twin_until_closed(db: Database, tenant: Tenant) -> None:
    assert await _emit(db, tenant, "fp-open")
    assert not await _emit(db, tenant, "fp-open")
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(NotificationEvent)
            .where(NotificationEvent.fingerprint == "fp-open")
            .values(status=NotificationStatus.acked)
        )
    assert await _emit(db, tenant, "fp-open")
    assert await _count(db, tenant, "fp-open") == 2


async def test_once_means_once_whatever_the_state(db: Database, tenant: Tenant) -> None:
    assert await _emit(db, tenant, "fp-once", once=True)
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(NotificationEvent)
            .where(NotificationEvent.fingerprint == "fp-once")
            .values(status=NotificationStatus.acked)
        )
    assert not await _emit(db, tenant, "fp-once", once=True)
    assert await _count(db, tenant, "fp-once") == 1


async def test_concurrent_emitters_make_one_event(db: Database, tenant: Tenant) -> None:
    results = await asyncio.gather(*(_emit(db, tenant, "fp-race") for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]
    assert await _count(db, tenant, "fp-race") == 1


async def test_fingerprints_are_per_tenant(db: Database, tenant: Tenant) -> None:
    from core.tenancy.service import create_tenant

    other = await create_tenant(db, f"{tenant.name}-other", "UTC")
    assert await _emit(db, tenant, "fp-shared")
    assert await _emit(db, other, "fp-shared")
