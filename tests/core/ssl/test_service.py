"""Registering, listing, removing and checking domains on real PostgreSQL and loopback TLS."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.audit.models import ActivityLog
from core.config import Settings
from core.db.enums import SslCheckStatus
from core.db.session import Database
from core.errors import ConflictError, NotFoundError, ValidationError
from core.ssl.checker import StaticResolver
from core.ssl.models import Domain, SslCheckResult
from core.ssl.service import add_domain, check_now, list_domains, remove_domain
from core.tenancy.models import Tenant
from core.tenancy.service import create_branch
from tests.core.ssl.conftest import RESOLVER
from tests.core.ssl.pki import Pki, issue_leaf
from tests.core.ssl.servers import LoopbackServers


@pytest.fixture(scope="module")
def wildcard_port(pki: Pki, servers: LoopbackServers) -> int:
    return servers.tls(pki.server_context(pki.leaf("*.intrex.test"), pki.intermediate)).port


@pytest.fixture(scope="module")
def self_signed_port(pki: Pki, servers: LoopbackServers) -> int:
    return servers.tls(pki.server_context(issue_leaf(["*.intrex.test"], None))).port


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}.intrex.test"


async def _count(db: Database, tenant: Tenant, model: type[Domain] | type[SslCheckResult]) -> int:
    async with db.tenant_uow(tenant.id) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _audit(db: Database, tenant: Tenant, action: str) -> list[ActivityLog]:
    async with db.tenant_uow(tenant.id) as session:
        return list(await session.scalars(select(ActivityLog).where(ActivityLog.action == action)))


async def test_add_domain_records_the_first_check_and_the_audit_entry(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    host = unique("shop")
    added = await add_domain(
        db, tenant, f"{host.upper()}.:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
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
    assert entry.after_json is not None
    assert entry.after_json["hostname"] == host
    assert "claim_token" not in entry.after_json


async def test_add_domain_to_a_branch(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    branch = await create_branch(db, tenant, code="DHK-01", name="Dhaka")
    added = await add_domain(
        db,
        tenant,
        f"{unique('b')}:{wildcard_port}",
        "dhk-01",
        user_id=None,
        settings=ssl_settings,
        resolver=RESOLVER,
    )
    assert added.domain is not None
    assert added.domain.branch_id == branch.id
    with pytest.raises(NotFoundError, match="There is no branch NOPE"):
        await add_domain(
            db,
            tenant,
            f"{unique('c')}:{wildcard_port}",
            "nope",
            settings=ssl_settings,
            resolver=RESOLVER,
        )


async def test_duplicates_in_a_tenant_are_refused_in_any_spelling(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    host = unique("dup")
    await add_domain(
        db, tenant, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    with pytest.raises(ConflictError, match=f"{host}:{wildcard_port} is already monitored"):
        await add_domain(
            db,
            tenant,
            f" {host.upper()}.:{wildcard_port}",
            settings=ssl_settings,
            resolver=RESOLVER,
        )
    assert await _count(db, tenant, Domain) == 1
    assert len(await _audit(db, tenant, "domain.add")) == 1


async def test_same_host_on_another_port_or_tenant_is_allowed(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    from core.tenancy.service import create_tenant

    host = unique("twice")
    other = await create_tenant(db, f"other-{uuid.uuid4().hex[:6]}")
    await add_domain(
        db, tenant, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    await add_domain(db, other, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER)
    second = await add_domain(db, tenant, f"{host}:1", settings=ssl_settings, resolver=RESOLVER)
    assert second.outcome.status is SslCheckStatus.handshake_failed


@pytest.mark.parametrize("address", ["10.0.0.5", "127.0.0.1", "169.254.169.254"])
async def test_private_targets_are_refused_unless_allowed(
    db: Database, tenant: Tenant, pki: Pki, address: str
) -> None:
    strict = Settings(ssl_ca_file=pki.ca_file, ssl_timeout_seconds=1)
    resolver = StaticResolver({"intranet.example": [address]})
    with pytest.raises(ValidationError) as refused:
        await add_domain(db, tenant, "intranet.example", settings=strict, resolver=resolver)
    assert refused.value.message == (
        f"intranet.example resolves to a private or local address ({address}); "
        "Intrex only checks public hosts."
    )
    assert await _count(db, tenant, Domain) == 0


async def test_ip_literals_are_refused(
    db: Database, tenant: Tenant, ssl_settings: Settings
) -> None:
    with pytest.raises(ValidationError, match="is an IP address"):
        await add_domain(db, tenant, "127.0.0.1:443", settings=ssl_settings, resolver=RESOLVER)
    assert await _count(db, tenant, Domain) == 0


async def test_a_failing_first_check_is_recorded_and_opens_an_episode(
    db: Database, tenant: Tenant, ssl_settings: Settings, self_signed_port: int
) -> None:
    added = await add_domain(
        db, tenant, f"{unique('bad')}:{self_signed_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert added.outcome.status is SslCheckStatus.handshake_failed
    assert added.domain is not None
    assert added.domain.failure_episode_id is not None
    assert added.result is not None
    assert added.result.error_detail == "certificate verify failed: self-signed certificate"


async def test_remove_domain_audits_and_drops_its_history(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    host = unique("gone")
    await add_domain(
        db, tenant, f"{host}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    removed = await remove_domain(db, tenant, f"{host.upper()}:{wildcard_port}", user_id=None)
    assert removed.hostname == host
    assert await _count(db, tenant, Domain) == 0
    assert await _count(db, tenant, SslCheckResult) == 0
    [entry] = await _audit(db, tenant, "domain.remove")
    assert entry.before_json is not None
    assert entry.before_json["hostname"] == host
    assert entry.after_json is None
    with pytest.raises(NotFoundError, match=f"{host}:{wildcard_port} is not monitored"):
        await remove_domain(db, tenant, f"{host}:{wildcard_port}")


async def test_list_domains_shows_the_latest_check_and_respects_branches(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    north = await create_branch(db, tenant, code="N-1", name="North")
    await create_branch(db, tenant, code="S-1", name="South")
    a, b, c = unique("a"), unique("b"), unique("c")
    await add_domain(
        db, tenant, f"{a}:{wildcard_port}", "N-1", settings=ssl_settings, resolver=RESOLVER
    )
    await add_domain(
        db, tenant, f"{b}:{wildcard_port}", "S-1", settings=ssl_settings, resolver=RESOLVER
    )
    await add_domain(db, tenant, f"{c}:1", settings=ssl_settings, resolver=RESOLVER)
    await check_now(db, tenant, f"{a}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER)

    everything = await list_domains(db, tenant)
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

    north_only = await list_domains(db, tenant, branch_ids=[north.id])
    assert [state.domain.hostname for state in north_only] == [a]


async def test_check_now_of_an_unregistered_host_stores_nothing(
    db: Database, tenant: Tenant, ssl_settings: Settings, wildcard_port: int
) -> None:
    checked = await check_now(
        db, tenant, f"{unique('adhoc')}:{wildcard_port}", settings=ssl_settings, resolver=RESOLVER
    )
    assert checked.outcome.status is SslCheckStatus.ok
    assert checked.domain is None
    assert checked.result is None
    assert await _count(db, tenant, SslCheckResult) == 0


async def test_check_now_of_an_unregistered_private_host_is_refused(
    db: Database, tenant: Tenant, pki: Pki
) -> None:
    strict = Settings(ssl_ca_file=pki.ca_file, ssl_timeout_seconds=1)
    with pytest.raises(ValidationError, match=r"private or local address \(127\.0\.0\.1\)"):
        await check_now(db, tenant, "probe.intrex.test:22", settings=strict, resolver=RESOLVER)
