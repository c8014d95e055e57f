"""The scheduler round on a database of its own: claims across tenants, replicas, leases."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.config import Settings
from core.db.enums import NotificationEventType, SslCheckStatus
from core.db.session import Database
from core.notify.models import NotificationEvent
from core.ssl.models import Domain, SslCheckResult
from core.ssl.scheduler import claim_due, lease_for, run_ssl_round
from core.tenancy.models import Tenant
from tests.companies import new_tenant
from tests.core.ssl.conftest import RESOLVER
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers


@pytest.fixture(scope="module")
def good_port(pki: Pki, servers: LoopbackServers) -> int:
    return servers.tls(pki.server_context(pki.leaf("*.intrex.test"), pki.intermediate)).port


async def _tenant_with_domains(db: Database, count: int, port: int) -> Tenant:
    tenant = await new_tenant(db, "UTC", name=f"round-{uuid.uuid4().hex[:8]}")
    async with db.tenant_uow(tenant.id) as session:
        session.add_all(
            Domain(tenant_id=tenant.id, hostname=f"d{n}-{tenant.name}.intrex.test", port=port)
            for n in range(count)
        )
    return tenant


async def _results_per_domain(db: Database, tenant: Tenant) -> Counter[uuid.UUID]:
    async with db.tenant_uow(tenant.id) as session:
        rows = await session.execute(
            select(SslCheckResult.domain_id, func.count()).group_by(SslCheckResult.domain_id)
        )
        return Counter(dict(rows.all()))


async def _domains(db: Database, tenant: Tenant) -> list[Domain]:
    async with db.tenant_uow(tenant.id) as session:
        return list(await session.scalars(select(Domain)))


async def test_round_checks_every_due_domain_of_every_tenant_once(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    first = await _tenant_with_domains(private_db, 7, good_port)
    second = await _tenant_with_domains(private_db, 5, 1)
    now = datetime.now(UTC) + timedelta(seconds=1)

    report = await run_ssl_round(private_db, ssl_settings, now=now, resolver=RESOLVER, batch_size=4)

    assert (report.claimed, report.recorded, report.lost_claims) == (12, 12, 0)
    assert report.batches == 3
    assert report.statuses == Counter({"ok": 7, "handshake_failed": 5})
    assert report.events == 5, "one ssl_failure per failing domain"
    for tenant, status in ((first, SslCheckStatus.ok), (second, SslCheckStatus.handshake_failed)):
        assert set((await _results_per_domain(private_db, tenant)).values()) == {1}
        for domain in await _domains(private_db, tenant):
            assert domain.status is status
            assert domain.last_checked_at is not None
            assert domain.next_check_at == max(now, domain.last_checked_at) + timedelta(minutes=360)
            assert domain.claimed_until is None
            assert domain.claim_token is None
    async with private_db.tenant_uow(second.id) as session:
        failures = await session.scalar(
            select(func.count()).where(
                NotificationEvent.event_type == NotificationEventType.ssl_failure
            )
        )
    assert failures == 5

    again = await run_ssl_round(private_db, ssl_settings, now=now, resolver=RESOLVER)
    assert again.claimed == 0, "nothing is due twice in one round"
    later = await run_ssl_round(
        private_db, ssl_settings, now=now + timedelta(minutes=360), resolver=RESOLVER
    )
    assert later.claimed == 12
    assert later.events == 0, "the open episodes raise nothing new"


async def test_concurrent_replicas_never_check_a_domain_twice(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenants = [await _tenant_with_domains(private_db, 30, good_port) for _ in range(2)]
    replica = Database(private_db.engine.url, system_url=private_db.system_engine.url, pool_size=2)
    now = datetime.now(UTC) + timedelta(seconds=1)
    try:
        reports = await asyncio.gather(
            run_ssl_round(private_db, ssl_settings, now=now, resolver=RESOLVER, batch_size=3),
            run_ssl_round(replica, ssl_settings, now=now, resolver=RESOLVER, batch_size=3),
            run_ssl_round(replica, ssl_settings, now=now, resolver=RESOLVER, batch_size=5),
        )
    finally:
        await replica.dispose()
    assert sum(report.claimed for report in reports) == 60
    assert sum(report.recorded for report in reports) == 60
    assert sum(1 for report in reports if report.claimed) >= 2, "the work was shared"
    for tenant in tenants:
        per_domain = await _results_per_domain(private_db, tenant)
        assert len(per_domain) == 30
        assert set(per_domain.values()) == {1}


async def test_a_dead_replicas_claim_runs_out(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenant = await _tenant_with_domains(private_db, 6, good_port)
    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = lease_for(ssl_settings, 4)
    stranded = await claim_due(private_db, now=now, lease=lease, token=uuid.uuid4(), limit=4)
    assert len(stranded) == 4

    meanwhile = await run_ssl_round(private_db, ssl_settings, now=now, resolver=RESOLVER)
    assert meanwhile.claimed == 2, "claimed domains are left to their replica"

    after_lease = await run_ssl_round(
        private_db, ssl_settings, now=now + lease + timedelta(seconds=1), resolver=RESOLVER
    )
    assert after_lease.claimed == 4
    assert {domain.id for domain in stranded} <= set(await _results_per_domain(private_db, tenant))


async def test_a_replica_that_lost_its_claim_does_not_write(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenant = await _tenant_with_domains(private_db, 1, good_port)
    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = lease_for(ssl_settings, 500)

    async def slow_then_overtaken(host: str, port: int) -> list[str]:
        """While this replica resolves, its lease runs out and another replica claims it."""
        taken = await claim_due(
            private_db, now=now + lease * 2, lease=lease, token=uuid.uuid4(), limit=10
        )
        assert len(taken) == 1
        return await RESOLVER(host, port)

    report = await run_ssl_round(private_db, ssl_settings, now=now, resolver=slow_then_overtaken)
    assert (report.claimed, report.recorded, report.lost_claims) == (1, 0, 1)
    assert await _results_per_domain(private_db, tenant) == Counter()
    [domain] = await _domains(private_db, tenant)
    assert domain.status is None


async def test_removed_domain_mid_round_is_skipped(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenant = await _tenant_with_domains(private_db, 2, good_port)
    [doomed, kept] = await _domains(private_db, tenant)

    async def remove_while_checking(host: str, port: int) -> list[str]:
        if host == doomed.hostname:
            async with private_db.tenant_uow(tenant.id) as session:
                await session.delete(await session.get_one(Domain, doomed.id))
        return await RESOLVER(host, port)

    now = datetime.now(UTC) + timedelta(seconds=1)
    report = await run_ssl_round(private_db, ssl_settings, now=now, resolver=remove_while_checking)
    assert (report.claimed, report.recorded, report.lost_claims) == (2, 1, 1)
    assert set(await _results_per_domain(private_db, tenant)) == {kept.id}


async def test_a_late_claim_in_a_long_round_is_leased_from_the_claim(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    tenant = await _tenant_with_domains(private_db, 1, good_port)
    async with private_db.tenant_uow(tenant.id) as session:
        [domain] = await session.scalars(select(Domain))
        domain.next_check_at = datetime.now(UTC) - timedelta(hours=2)
    round_started = datetime.now(UTC) - timedelta(hours=1)
    lease = lease_for(ssl_settings, 10)
    before = datetime.now(UTC)
    [claimed] = await claim_due(
        private_db, now=round_started, lease=lease, token=uuid.uuid4(), limit=10
    )
    [held] = await _domains(private_db, tenant)
    assert held.claimed_until is not None
    assert held.claimed_until >= before + lease, "not round_started + lease, long gone"
    again = await claim_due(
        private_db, now=datetime.now(UTC), lease=lease, token=uuid.uuid4(), limit=10
    )
    assert again == [], "another replica cannot take it while the lease runs"
    assert claimed.id == held.id


async def test_the_next_check_is_a_full_interval_after_the_check(
    private_db: Database, ssl_settings: Settings, good_port: int
) -> None:
    """However long the round took, two checks of a domain are an interval apart."""
    tenant = await _tenant_with_domains(private_db, 2, good_port)
    round_started = datetime.now(UTC) - timedelta(minutes=1)
    async with private_db.tenant_uow(tenant.id) as session:
        for domain in await session.scalars(select(Domain)):
            domain.next_check_at = round_started
    await run_ssl_round(private_db, ssl_settings, now=round_started, resolver=RESOLVER)
    for domain in await _domains(private_db, tenant):
        assert domain.last_checked_at is not None
        assert domain.last_checked_at > round_started
        assert domain.next_check_at == domain.last_checked_at + timedelta(minutes=360)


async def test_a_stopped_round_hands_its_claims_back(
    private_db: Database, ssl_settings: Settings, servers: LoopbackServers
) -> None:
    tenant = await _tenant_with_domains(private_db, 3, servers.silent())
    slow = ssl_settings.model_copy(update={"ssl_timeout_seconds": 30})
    round_task = asyncio.create_task(
        run_ssl_round(
            private_db, slow, now=datetime.now(UTC) + timedelta(seconds=1), resolver=RESOLVER
        )
    )

    async def claimed() -> bool:
        return all(d.claim_token is not None for d in await _domains(private_db, tenant))

    for _ in range(100):
        if await claimed():
            break
        await asyncio.sleep(0.05)
    round_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await round_task

    domains = await _domains(private_db, tenant)
    assert [(d.claim_token, d.claimed_until) for d in domains] == [(None, None)] * 3
    assert await _results_per_domain(private_db, tenant) == Counter()
