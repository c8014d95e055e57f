"""Retention against a real database of its own: what goes, what stays, once a day, in batches.

Each test has a private database: retention works across every tenant, and the shared one
holds other tests' rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from core.audit.models import ActivityLog
from core.config import Settings
from core.db.enums import SslCheckStatus
from core.db.job_runs import JobRun
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.retention import JOB_NAME, run_retention
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Tenant
from tests.companies import new_tenant

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, ssl_result_retention_days=90, audit_retention_days=730)


async def add_domain(db: Database, tenant: Tenant, host: str, checks: list[float]) -> uuid.UUID:
    """A domain with one check result for each of `checks` (days before NOW)."""
    async with db.system_uow() as session:
        domain = Domain(tenant_id=tenant.id, hostname=host, port=443)
        session.add(domain)
        await session.flush()
        if checks:
            await session.execute(
                insert(SslCheckResult),
                [
                    {
                        "tenant_id": tenant.id,
                        "domain_id": domain.id,
                        "check_status": SslCheckStatus.ok,
                        "checked_at": days_ago(age),
                    }
                    for age in checks
                ],
            )
    return domain.id


async def add_audit(db: Database, tenant: Tenant, ages: list[float]) -> None:
    async with db.system_uow() as session:
        await session.execute(
            insert(ActivityLog),
            [
                {
                    "tenant_id": tenant.id,
                    "action": "test.entry",
                    "entity_type": "test",
                    "timestamp": days_ago(age),
                }
                for age in ages
            ],
        )


async def check_ages(db: Database, domain_id: uuid.UUID) -> list[float]:
    async with db.system_uow() as session:
        moments = await session.scalars(
            select(SslCheckResult.checked_at)
            .where(SslCheckResult.domain_id == domain_id)
            .order_by(SslCheckResult.checked_at)
        )
        return [(NOW - moment) / timedelta(days=1) for moment in moments]


async def audit_ages(db: Database, tenant: Tenant) -> list[float]:
    async with db.system_uow() as session:
        moments = await session.scalars(
            select(ActivityLog.timestamp)
            .where(ActivityLog.tenant_id == tenant.id, ActivityLog.action == "test.entry")
            .order_by(ActivityLog.timestamp)
        )
        return [(NOW - moment) / timedelta(days=1) for moment in moments]


async def test_old_results_go_but_each_domain_keeps_its_latest(
    private_db: Database, settings: Settings
) -> None:
    one, other = await new_tenant(private_db), await new_tenant(private_db)
    busy = await add_domain(private_db, one, "busy.example.com", [120, 95, 91, 10, 1])
    gone_quiet = await add_domain(private_db, one, "paused.example.com", [300, 200, 100])
    only_one = await add_domain(private_db, other, "once.example.com", [400])
    never = await add_domain(private_db, other, "new.example.com", [])
    await add_audit(private_db, one, [800, 731, 729, 1])
    await add_audit(private_db, other, [1000, 5])

    report = await run_retention(private_db, settings, now=NOW)

    assert report.ran
    assert await check_ages(private_db, busy) == [10, 1]
    assert await check_ages(private_db, gone_quiet) == [100]
    assert await check_ages(private_db, only_one) == [400]
    assert await check_ages(private_db, never) == []
    assert await audit_ages(private_db, one) == [729, 1]
    assert await audit_ages(private_db, other) == [5]
    assert (report.ssl_results_deleted, report.audit_entries_deleted) == (5, 3)
    async with private_db.system_uow() as session:
        run = await session.get_one(JobRun, JOB_NAME)
    assert run.last_started_at == NOW
    assert run.last_finished_at is not None
    assert run.last_result == {
        "ran": True,
        "ssl_results_deleted": 5,
        "audit_entries_deleted": 3,
        "batches": 2,
    }


async def test_the_audit_trail_refuses_the_runtime_role_what_retention_may_do(
    private_db: Database, settings: Settings
) -> None:
    """Migration 0012 makes `activity_logs` append-only but for the system role, which
    retention runs as: the same DELETE fails on a tenant's own connection."""
    tenant = await new_tenant(private_db)
    await add_audit(private_db, tenant, [1000])
    with pytest.raises(DBAPIError, match=r"permission denied|append-only"):
        async with private_db.tenant_uow(tenant.id) as session:
            await session.execute(
                text("DELETE FROM activity_logs WHERE tenant_id = :t"), {"t": tenant.id}
            )
    assert await audit_ages(private_db, tenant) == [1000]

    assert (await run_retention(private_db, settings, now=NOW)).audit_entries_deleted == 1
    assert await audit_ages(private_db, tenant) == []


@pytest.fixture
async def second_worker(private_target: DatabaseTarget) -> AsyncIterator[Database]:
    """Another process's pools on the same database: a second worker replica."""
    database = Database(
        private_target.runtime_url, system_url=private_target.system_url, pool_size=2
    )
    yield database
    await database.dispose()


async def test_two_workers_ticking_together_prune_once_a_day(
    private_db: Database, second_worker: Database, settings: Settings
) -> None:
    tenant = await new_tenant(private_db)
    domain = await add_domain(private_db, tenant, "shop.example.com", [200, 150, 1])

    reports = await asyncio.gather(
        run_retention(private_db, settings, now=NOW),
        run_retention(second_worker, settings, now=NOW),
    )
    assert sorted(report.ran for report in reports) == [False, True]
    assert sum(report.ssl_results_deleted for report in reports) == 2

    await add_domain(private_db, tenant, "later.example.com", [200, 1])
    for worker, moment in ((private_db, NOW + timedelta(hours=1)), (second_worker, NOW)):
        assert not (await run_retention(worker, settings, now=moment)).ran
    tomorrow = await run_retention(second_worker, settings, now=NOW + timedelta(days=1))
    assert tomorrow.ran
    assert tomorrow.ssl_results_deleted == 1
    assert await check_ages(private_db, domain) == [1]


async def test_more_rows_than_a_batch_are_pruned_in_several(
    private_db: Database, settings: Settings
) -> None:
    tenants = [await new_tenant(private_db) for _ in range(3)]
    domains = [
        await add_domain(private_db, tenant, f"d{n}.example.com", [*range(100, 220), 2])
        for n, tenant in enumerate(tenants)
    ]
    for tenant in tenants:
        await add_audit(private_db, tenant, [*range(731, 801), 3])

    report = await run_retention(private_db, settings, now=NOW, batch_size=50)

    assert report.ssl_results_deleted == 3 * 120
    assert report.audit_entries_deleted == 3 * 70
    # 360 results in batches of 50 (the last one short) and 210 audit entries likewise.
    assert report.batches == 8 + 5
    for domain in domains:
        assert await check_ages(private_db, domain) == [2]
    for tenant in tenants:
        assert await audit_ages(private_db, tenant) == [3]


async def test_a_limit_of_zero_keeps_everything(private_db: Database) -> None:
    tenant = await new_tenant(private_db)
    domain = await add_domain(private_db, tenant, "shop.example.com", [5000, 1])
    await add_audit(private_db, tenant, [5000])
    forever = Settings(_env_file=None, ssl_result_retention_days=0, audit_retention_days=0)

    report = await run_retention(private_db, forever, now=NOW)

    assert report.ran
    assert (report.ssl_results_deleted, report.audit_entries_deleted, report.batches) == (0, 0, 0)
    assert await check_ages(private_db, domain) == [5000, 1]
    assert await audit_ages(private_db, tenant) == [5000]
    async with private_db.system_uow() as session:
        assert await session.scalar(select(func.count()).select_from(JobRun)) == 1
