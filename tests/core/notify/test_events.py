"""Emitting events: deduplicated while open (or forever with once=True), also under concurrency."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, update

from core.db.enums import NotificationEventType, NotificationStatus, Severity
from core.db.session import Database
from core.notify.events import emit_event, resolve_events
from core.notify.models import NotificationEvent
from core.tenancy.models import Tenant
from tests.companies import new_tenant


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
    other = await new_tenant(db, "UTC")
    assert await _emit(db, tenant, "fp-shared")
    assert await _emit(db, other, "fp-shared")


async def test_resolving_a_cause_closes_its_open_events_delivered_or_not(
    db: Database, tenant: Tenant
) -> None:
    """Resolution ends every open event of the cause: waiting, delivered and unacknowledged,
    or dead-lettered. An acknowledged one keeps its status, and other causes are left alone."""
    statuses = {
        "cause:1:queued": NotificationStatus.queued,
        "cause:1:sent": NotificationStatus.sent,
        "cause:1:dead": NotificationStatus.dead_letter,
        "cause:1:acked": NotificationStatus.acked,
        "cause:10:sent": NotificationStatus.sent,
    }
    for fingerprint, status in statuses.items():
        assert await _emit(db, tenant, fingerprint)
        async with db.tenant_uow(tenant.id) as session:
            await session.execute(
                update(NotificationEvent)
                .where(NotificationEvent.fingerprint == fingerprint)
                .values(status=status)
            )
    async with db.tenant_uow(tenant.id) as session:
        closed = await resolve_events(
            session, tenant_id=tenant.id, fingerprint_prefix="cause:1:", resolution="completed"
        )
    assert closed == 3
    async with db.tenant_uow(tenant.id) as session:
        rows = await session.execute(
            select(NotificationEvent.fingerprint, NotificationEvent.status).where(
                NotificationEvent.fingerprint.startswith("cause:")
            )
        )
        after = {row.fingerprint: row.status for row in rows}
    assert after == {
        "cause:1:queued": NotificationStatus.cancelled,
        "cause:1:sent": NotificationStatus.cancelled,
        "cause:1:dead": NotificationStatus.cancelled,
        "cause:1:acked": NotificationStatus.acked,
        "cause:10:sent": NotificationStatus.sent,
    }
    async with db.tenant_uow(tenant.id) as session:
        resolved = await resolve_events(
            session, tenant_id=tenant.id, fingerprint="cause:10:sent", resolution="recovered"
        )
        assert resolved == 1
