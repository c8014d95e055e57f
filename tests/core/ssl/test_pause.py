"""Pausing and resuming a domain's monitoring, on real PostgreSQL and loopback TLS.

A pause ends the domain's open alerts (failure and expiry) and keeps it out of the
scheduler's rounds, even one that claimed it just before; resuming makes it due at once.
Both are head office's, audited, and refused clearly when there is nothing to change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.audit.models import ActivityLog
from core.config import Settings
from core.db.enums import AppRole, NotificationEventType, NotificationStatus, SslCheckStatus
from core.db.session import Database
from core.errors import ConflictError, ErrorCode, NotFoundError, PermissionDeniedError
from core.notify.models import NotificationEvent
from core.ssl.models import Domain, SslCheckResult
from core.ssl.scheduler import run_ssl_round
from core.ssl.service import add_domain, check_now, list_domains, pause_domain, resume_domain
from core.tenancy.models import Tenant
from core.tenancy.scope import ActorUnits, console_unit
from tests.companies import new_branch, new_tenant, person
from tests.core.ssl.conftest import RESOLVER
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers


@pytest.fixture(scope="module")
def good_port(pki: Pki, servers: LoopbackServers) -> int:
    return servers.tls(pki.server_context(pki.leaf("*.intrex.test"), pki.intermediate)).port


@pytest.fixture(scope="module")
def expiring_port(pki: Pki, servers: LoopbackServers) -> int:
    """A certificate with 5 days left: an `ssl_expiry` alert at the 7-day threshold."""
    leaf = pki.leaf("*.intrex.test", days_valid=5.5)
    return servers.tls(pki.server_context(leaf, pki.intermediate)).port


@pytest.fixture
async def admin(db: Database, tenant: Tenant) -> ActorUnits:
    return await person(db, tenant, AppRole.head_office_admin, name="Ayesha")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}.intrex.test"


async def pause(units: ActorUnits, target: str, now: datetime | None = None) -> Domain:
    async with units() as (session, actor):
        return await pause_domain(session, actor, target, now=now)


async def resume(units: ActorUnits, target: str, now: datetime | None = None) -> Domain:
    async with units() as (session, actor):
        return await resume_domain(session, actor, target, now=now)


async def events_of(db: Database, tenant: Tenant, domain_id: uuid.UUID) -> list[NotificationEvent]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(NotificationEvent)
                .where(NotificationEvent.fingerprint.contains(str(domain_id)))
                .order_by(NotificationEvent.created_at)
            )
        )


async def audit(db: Database, tenant: Tenant, action: str) -> list[ActivityLog]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(ActivityLog).where(ActivityLog.action == action).order_by(ActivityLog.id)
            )
        )


async def test_pausing_ends_open_alerts_and_is_audited(
    db: Database,
    tenant: Tenant,
    admin: ActorUnits,
    ssl_settings: Settings,
    expiring_port: int,
) -> None:
    failing = await add_domain(
        admin, f"{unique('down')}:1", settings=ssl_settings, resolver=RESOLVER
    )
    expiring = await add_domain(
        admin, f"{unique('soon')}:{expiring_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert failing.domain is not None
    assert expiring.domain is not None
    assert failing.outcome.status is SslCheckStatus.handshake_failed
    [failure] = await events_of(db, tenant, failing.domain.id)
    [expiry] = await events_of(db, tenant, expiring.domain.id)
    assert failure.event_type is NotificationEventType.ssl_failure
    assert expiry.event_type is NotificationEventType.ssl_expiry

    moment = datetime.now(UTC)
    for checked in (failing, expiring):
        paused = await pause(admin, str(checked.target), now=moment)
        assert paused.paused_at == moment

    for checked in (failing, expiring):
        assert checked.domain is not None
        [event] = await events_of(db, tenant, checked.domain.id)
        assert event.status is NotificationStatus.cancelled
        assert event.resolution == "domain_paused"
        assert event.resolved_by_user_id == admin.user_id
    async with db.tenant_uow(tenant.id) as session:
        stored = await session.get_one(Domain, failing.domain.id)
    assert stored.paused_at == moment
    assert stored.failure_episode_id is None, "a failure after resuming is a new episode"
    entries = await audit(db, tenant, "domain.pause")
    assert [entry.entity_id for entry in entries] == [
        str(failing.domain.id),
        str(expiring.domain.id),
    ]
    assert entries[0].user_id == admin.user_id
    assert entries[0].before_json is not None
    assert entries[0].after_json is not None
    assert entries[0].before_json["paused_at"] is None
    assert entries[0].after_json["paused_at"] == moment.isoformat()
    assert "claim_token" not in entries[0].after_json

    async with admin() as (session, actor):
        states = {state.domain.id: state for state in await list_domains(session, actor)}
    assert states[failing.domain.id].paused

    with pytest.raises(ConflictError, match="is already paused") as twice:
        await pause(admin, str(failing.target))
    assert twice.value.code is ErrorCode.domain_paused
    assert len(await audit(db, tenant, "domain.pause")) == 2


async def test_resuming_makes_the_domain_due_now_and_is_audited(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, good_port: int
) -> None:
    added = await add_domain(
        admin, f"{unique('shop')}:{good_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert added.domain is not None
    assert added.domain.next_check_at > datetime.now(UTC) + timedelta(hours=5)
    with pytest.raises(ConflictError, match="is not paused") as not_paused:
        await resume(admin, str(added.target))
    assert not_paused.value.code is ErrorCode.domain_not_paused

    await pause(admin, str(added.target))
    moment = datetime.now(UTC)
    resumed = await resume(admin, str(added.target), now=moment)
    assert resumed.paused_at is None
    assert resumed.next_check_at == moment
    [entry] = await audit(db, tenant, "domain.resume")
    assert entry.entity_id == str(added.domain.id)
    assert entry.before_json is not None
    assert entry.after_json is not None
    assert entry.before_json["paused_at"] is not None
    assert entry.after_json["paused_at"] is None
    assert entry.after_json["next_check_at"] == moment.isoformat()


async def test_only_head_office_pauses_and_resumes(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, good_port: int
) -> None:
    branch = await new_branch(db, tenant, "DHK-01", name="Dhaka")
    added = await add_domain(
        admin, f"{unique('b')}:{good_port}", "DHK-01", settings=ssl_settings, resolver=RESOLVER
    )
    for role in (AppRole.branch_manager, AppRole.operator):
        someone = await person(db, tenant, role, [branch])
        for act in (pause, resume):
            with pytest.raises(PermissionDeniedError) as refused:
                await act(someone, str(added.target))
            assert refused.value.code is ErrorCode.head_office_only
    with pytest.raises(NotFoundError) as missing:
        await pause(admin, unique("never"))
    assert missing.value.code is ErrorCode.domain_not_found
    assert await audit(db, tenant, "domain.pause") == []


async def test_check_of_a_paused_domain_answers_and_records_nothing(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings
) -> None:
    added = await add_domain(admin, f"{unique('down')}:1", settings=ssl_settings, resolver=RESOLVER)
    assert added.domain is not None
    paused = await pause(admin, str(added.target))

    checked = await check_now(admin, str(added.target), settings=ssl_settings, resolver=RESOLVER)

    assert checked.outcome.status is SslCheckStatus.handshake_failed
    assert checked.domain is not None
    assert checked.domain.paused_at is not None
    assert checked.result is None
    async with db.tenant_uow(tenant.id) as session:
        results = list(
            await session.scalars(
                select(SslCheckResult).where(SslCheckResult.domain_id == added.domain.id)
            )
        )
        stored = await session.get_one(Domain, added.domain.id)
    assert len(results) == 1, "only the first check, before the pause"
    assert stored.next_check_at == paused.next_check_at
    assert stored.failure_episode_id is None
    [event] = await events_of(db, tenant, added.domain.id)
    assert event.status is NotificationStatus.cancelled, "no new alert for a paused domain"


async def test_the_round_skips_paused_domains_and_checks_them_once_resumed(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenant = await new_tenant(private_db, "UTC")
    async with private_db.tenant_uow(tenant.id) as session:
        session.add_all(
            Domain(tenant_id=tenant.id, hostname=host, port=good_port)
            for host in ("paused.intrex.test", "kept.intrex.test")
        )
    async with console_unit(private_db, tenant.id) as (session, actor):
        await pause_domain(session, actor, f"paused.intrex.test:{good_port}")

    now = datetime.now(UTC) + timedelta(seconds=1)
    report = await run_ssl_round(private_db, ssl_settings, now=now, resolver=RESOLVER)
    assert (report.claimed, report.recorded) == (1, 1)
    later = now + timedelta(days=2)
    assert (
        await run_ssl_round(private_db, ssl_settings, now=later, resolver=RESOLVER)
    ).claimed == 1
    async with private_db.tenant_uow(tenant.id) as session:
        paused = await session.scalar(select(Domain).where(Domain.hostname == "paused.intrex.test"))
    assert paused is not None
    assert (paused.status, paused.last_checked_at) == (None, None)

    async with console_unit(private_db, tenant.id) as (session, actor):
        await resume_domain(session, actor, f"paused.intrex.test:{good_port}")
    resumed = await run_ssl_round(
        private_db, ssl_settings, now=datetime.now(UTC) + timedelta(seconds=1), resolver=RESOLVER
    )
    assert (resumed.claimed, resumed.recorded) == (1, 1)
    async with private_db.tenant_uow(tenant.id) as session:
        checked = await session.get_one(Domain, paused.id)
    assert checked.status is SslCheckStatus.ok


async def test_a_domain_paused_mid_round_is_not_recorded(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenant = await new_tenant(private_db, "UTC")
    async with private_db.tenant_uow(tenant.id) as session:
        session.add(Domain(tenant_id=tenant.id, hostname="late.intrex.test", port=good_port))

    async def pause_while_checking(host: str, port: int) -> list[str]:
        async with console_unit(private_db, tenant.id) as (session, actor):
            await pause_domain(session, actor, f"{host}:{port}")
        return await RESOLVER(host, port)

    now = datetime.now(UTC) + timedelta(seconds=1)
    report = await run_ssl_round(private_db, ssl_settings, now=now, resolver=pause_while_checking)
    assert (report.claimed, report.recorded, report.lost_claims) == (1, 0, 1)
    async with private_db.tenant_uow(tenant.id) as session:
        domain = await session.scalar(select(Domain))
        results = list(await session.scalars(select(SslCheckResult)))
    assert domain is not None
    assert domain.paused_at is not None
    assert (domain.status, domain.claim_token, results) == (None, None, [])
