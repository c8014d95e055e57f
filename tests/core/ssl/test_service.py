"""Registering, listing, removing and checking domains on real PostgreSQL and loopback TLS.

Each call acts as a person, as the bot's handlers do: `add_domain` and `check_now` take
the person's `ActorUnits` (their phases are units of work around the network),
`remove_domain` and `list_domains` the session and actor of one unit of work.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.audit.models import ActivityLog
from core.config import Settings
from core.db.enums import AppRole, NotificationEventType, NotificationStatus, SslCheckStatus
from core.db.session import Database
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.notify.models import NotificationEvent
from core.ssl.checker import StaticResolver
from core.ssl.models import Domain, SslCheckResult
from core.ssl.service import DomainState, add_domain, check_now, list_domains, remove_domain
from core.tenancy.models import Tenant
from core.tenancy.scope import ActorUnits
from tests.companies import new_branch, new_tenant, person
from tests.core.ssl.conftest import RESOLVER
from tests.core.ssl.pki import Pki, issue_leaf
from tests.core.ssl.servers import LoopbackServers


@pytest.fixture(scope="module")
def wildcard_port(pki: Pki, servers: LoopbackServers) -> int:
    return servers.tls(pki.server_context(pki.leaf("*.intrex.test"), pki.intermediate)).port


@pytest.fixture(scope="module")
def self_signed_port(pki: Pki, servers: LoopbackServers) -> int:
    return servers.tls(pki.server_context(issue_leaf(["*.intrex.test"], None))).port


@pytest.fixture
async def admin(db: Database, tenant: Tenant) -> ActorUnits:
    """Head office of the test's tenant: the one role that registers domains."""
    return await person(db, tenant, AppRole.head_office_admin, name="Ayesha")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}.intrex.test"


async def _count(db: Database, tenant: Tenant, model: type[Domain] | type[SslCheckResult]) -> int:
    async with db.tenant_uow(tenant.id) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _audit(db: Database, tenant: Tenant, action: str) -> list[ActivityLog]:
    async with db.tenant_uow(tenant.id) as session:
        return list(await session.scalars(select(ActivityLog).where(ActivityLog.action == action)))


async def remove(units: ActorUnits, host_port: str) -> Domain:
    async with units() as (session, actor):
        return await remove_domain(session, actor, host_port)


async def listed(units: ActorUnits) -> list[DomainState]:
    async with units() as (session, actor):
        return await list_domains(session, actor)


async def test_add_domain_records_the_first_check_and_the_audit_entry(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    host = unique("shop")
    added = await add_domain(
        admin, f"{host.upper()}.:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert added.domain is not None
    assert added.result is not None
    assert (added.domain.hostname, added.domain.port) == (host, wildcard_port)
    assert added.outcome.status is SslCheckStatus.ok
    async with db.tenant_uow(tenant.id) as session:
        domain = await session.get_one(Domain, added.domain.id)
        results = list(
            await session.scalars(
                select(SslCheckResult).where(SslCheckResult.domain_id == domain.id)
            )
        )
    assert domain.status is SslCheckStatus.ok
    assert domain.last_checked_at == added.outcome.checked_at
    assert domain.next_check_at == added.outcome.checked_at + timedelta(minutes=360)
    assert domain.failure_episode_id is None
    assert [r.check_status for r in results] == [SslCheckStatus.ok]
    assert results[0].issuer_cn == "Intrex Test Intermediate CA"
    assert results[0].days_remaining == 89
    assert results[0].fingerprint_sha256 == added.outcome.certificate.fingerprint_sha256  # type: ignore[union-attr]
    [entry] = await _audit(db, tenant, "domain.add")
    assert entry.entity_id == str(domain.id)
    assert entry.user_id == admin.user_id
    assert entry.after_json is not None
    assert entry.after_json["hostname"] == host
    assert "claim_token" not in entry.after_json


async def test_only_head_office_registers_domains(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    branch = await new_branch(db, tenant, "DHK-01", name="Dhaka")
    for role in (AppRole.branch_manager, AppRole.operator):
        someone = await person(db, tenant, role, [branch])
        with pytest.raises(PermissionDeniedError, match="Only head office can do this") as no:
            await add_domain(
                someone,
                f"{unique('mine')}:{wildcard_port}",
                "DHK-01",
                settings=ssl_settings,
                resolver=RESOLVER,
            )
        assert no.value.code is ErrorCode.head_office_only
    assert await _count(db, tenant, Domain) == 0


async def test_add_domain_to_a_branch(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    branch = await new_branch(db, tenant, "DHK-01", name="Dhaka")
    added = await add_domain(
        admin, f"{unique('b')}:{wildcard_port}", "dhk-01", settings=ssl_settings, resolver=RESOLVER
    )
    assert added.domain is not None
    assert added.domain.branch_id == branch.id
    with pytest.raises(NotFoundError, match="There is no branch NOPE") as missing:
        await add_domain(
            admin,
            f"{unique('c')}:{wildcard_port}",
            "nope",
            settings=ssl_settings,
            resolver=RESOLVER,
        )
    assert missing.value.code is ErrorCode.branch_not_found
    assert missing.value.params == {"code": "NOPE"}


async def test_duplicates_in_a_tenant_are_refused_in_any_spelling(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    host = unique("dup")
    await add_domain(admin, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER)
    with pytest.raises(ConflictError, match=f"{host}:{wildcard_port} is already monitored") as dup:
        await add_domain(
            admin, f" {host.upper()}.:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
        )
    assert dup.value.code is ErrorCode.domain_exists
    assert await _count(db, tenant, Domain) == 1
    assert len(await _audit(db, tenant, "domain.add")) == 1


async def test_same_host_on_another_port_or_tenant_is_allowed(
    db: Database, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    host = unique("twice")
    other = await new_tenant(db)
    other_admin = await person(db, other, AppRole.head_office_admin)
    await add_domain(admin, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER)
    await add_domain(
        other_admin, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    second = await add_domain(admin, f"{host}:1", settings=ssl_settings, resolver=RESOLVER)
    assert second.outcome.status is SslCheckStatus.handshake_failed


@pytest.mark.parametrize("address", ["10.0.0.5", "127.0.0.1", "169.254.169.254"])
async def test_private_targets_are_refused_unless_allowed(
    db: Database, tenant: Tenant, admin: ActorUnits, pki: Pki, address: str
) -> None:
    strict = Settings(ssl_ca_file=pki.ca_file, ssl_timeout_seconds=1)
    resolver = StaticResolver({"intranet.example": [address]})
    with pytest.raises(ValidationError) as refused:
        await add_domain(admin, "intranet.example", settings=strict, resolver=resolver)
    assert refused.value.code is ErrorCode.host_private
    assert refused.value.message == (
        f"intranet.example resolves to a private or local address ({address}); "
        "Intrex only checks public hosts."
    )
    assert await _count(db, tenant, Domain) == 0


async def test_ip_literals_are_refused(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings
) -> None:
    with pytest.raises(ValidationError, match="is an IP address") as refused:
        await add_domain(admin, "127.0.0.1:443", settings=ssl_settings, resolver=RESOLVER)
    assert refused.value.code is ErrorCode.host_is_ip
    assert await _count(db, tenant, Domain) == 0


async def test_a_failing_first_check_is_recorded_and_opens_an_episode(
    admin: ActorUnits, ssl_settings: Settings, self_signed_port: int
) -> None:
    added = await add_domain(
        admin, f"{unique('bad')}:{self_signed_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert added.outcome.status is SslCheckStatus.handshake_failed
    assert added.domain is not None
    assert added.domain.failure_episode_id is not None
    assert added.result is not None
    assert added.result.error_detail == "certificate verify failed: self-signed certificate"


async def test_remove_domain_audits_drops_its_history_and_ends_its_alerts(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, self_signed_port: int
) -> None:
    host = unique("gone")
    added = await add_domain(
        admin, f"{host}:{self_signed_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert added.domain is not None
    async with db.tenant_uow(tenant.id) as session:
        [failing] = await session.scalars(
            select(NotificationEvent).where(
                NotificationEvent.event_type == NotificationEventType.ssl_failure,
                NotificationEvent.fingerprint.startswith(f"ssl_failure:{added.domain.id}:"),
            )
        )
    assert failing.status is not NotificationStatus.cancelled

    removed = await remove(admin, f"{host.upper()}:{self_signed_port}")
    assert removed.hostname == host
    assert await _count(db, tenant, Domain) == 0
    assert await _count(db, tenant, SslCheckResult) == 0
    async with db.tenant_uow(tenant.id) as session:
        ended = await session.get_one(NotificationEvent, failing.id)
    assert ended.status is NotificationStatus.cancelled
    [entry] = await _audit(db, tenant, "domain.remove")
    assert entry.user_id == admin.user_id
    assert entry.before_json is not None
    assert entry.before_json["hostname"] == host
    assert entry.after_json is None
    with pytest.raises(NotFoundError, match=f"{host}:{self_signed_port} is not monitored") as no:
        await remove(admin, f"{host}:{self_signed_port}")
    assert no.value.code is ErrorCode.domain_not_found


async def test_only_head_office_removes_and_others_do_not_see_what_is_not_theirs(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    north = await new_branch(db, tenant, "N-1", name="North")
    south = await new_branch(db, tenant, "S-1", name="South")
    host = unique("kept")
    await add_domain(
        admin, f"{host}:{wildcard_port}", "N-1", settings=ssl_settings, resolver=RESOLVER
    )
    own_manager = await person(db, tenant, AppRole.branch_manager, [north])
    other_manager = await person(db, tenant, AppRole.branch_manager, [south])
    with pytest.raises(PermissionDeniedError, match="Only head office can do this"):
        await remove(own_manager, f"{host}:{wildcard_port}")
    with pytest.raises(NotFoundError, match="is not monitored in your scope"):
        await remove(other_manager, f"{host}:{wildcard_port}")
    assert await _count(db, tenant, Domain) == 1
    assert await _audit(db, tenant, "domain.remove") == []


async def test_list_domains_shows_the_latest_check_and_respects_branches(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    north = await new_branch(db, tenant, "N-1", name="North")
    await new_branch(db, tenant, "S-1", name="South")
    a, b, c = unique("a"), unique("b"), unique("c")
    await add_domain(admin, f"{a}:{wildcard_port}", "N-1", settings=ssl_settings, resolver=RESOLVER)
    await add_domain(admin, f"{b}:{wildcard_port}", "S-1", settings=ssl_settings, resolver=RESOLVER)
    await add_domain(admin, f"{c}:1", settings=ssl_settings, resolver=RESOLVER)
    await check_now(admin, f"{a}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER)

    everything = await listed(admin)
    assert [state.domain.hostname for state in everything] == sorted([a, b, c])
    by_host = {state.domain.hostname: state for state in everything}
    assert by_host[a].branch_code == "N-1"
    assert by_host[c].branch_code is None
    latest_c = by_host[c].last_result
    assert latest_c is not None
    assert latest_c.check_status is SslCheckStatus.handshake_failed
    latest_a = by_host[a].last_result
    assert latest_a is not None
    assert latest_a.checked_at == by_host[a].domain.last_checked_at
    assert await _count(db, tenant, SslCheckResult) == 4

    north_manager = await person(db, tenant, AppRole.branch_manager, [north])
    north_only = await listed(north_manager)
    assert [state.domain.hostname for state in north_only] == [a]
    unlinked = await person(db, tenant, AppRole.operator)
    assert await listed(unlinked) == []


async def test_a_manager_checks_the_domains_of_their_branches_only(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    north = await new_branch(db, tenant, "N-1", name="North")
    await new_branch(db, tenant, "S-1", name="South")
    a, b = unique("a"), unique("b")
    await add_domain(admin, f"{a}:{wildcard_port}", "N-1", settings=ssl_settings, resolver=RESOLVER)
    await add_domain(admin, f"{b}:{wildcard_port}", "S-1", settings=ssl_settings, resolver=RESOLVER)
    manager = await person(db, tenant, AppRole.branch_manager, [north])
    operator = await person(db, tenant, AppRole.operator, [north])

    checked = await check_now(
        manager, f"{a}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert checked.result is not None
    assert checked.outcome.status is SslCheckStatus.ok
    for target in (f"{b}:{wildcard_port}", f"{unique('adhoc')}:{wildcard_port}"):
        with pytest.raises(NotFoundError, match="is not monitored in your scope"):
            await check_now(manager, target, settings=ssl_settings, resolver=RESOLVER)
    with pytest.raises(PermissionDeniedError, match="Only branch managers and head office") as no:
        await check_now(operator, f"{a}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER)
    assert no.value.code is ErrorCode.managers_only
    assert await _count(db, tenant, SslCheckResult) == 3


async def test_check_now_of_an_unregistered_host_stores_nothing(
    db: Database, tenant: Tenant, admin: ActorUnits, ssl_settings: Settings, wildcard_port: int
) -> None:
    checked = await check_now(
        admin, f"{unique('adhoc')}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert checked.outcome.status is SslCheckStatus.ok
    assert checked.domain is None
    assert checked.result is None
    assert await _count(db, tenant, SslCheckResult) == 0


async def test_check_now_of_an_unregistered_private_host_is_refused(
    admin: ActorUnits, pki: Pki
) -> None:
    strict = Settings(ssl_ca_file=pki.ca_file, ssl_timeout_seconds=1)
    with pytest.raises(ValidationError, match=r"private or local address \(127\.0\.0\.1\)"):
        await check_now(admin, "probe.intrex.test:22", settings=strict, resolver=RESOLVER)
