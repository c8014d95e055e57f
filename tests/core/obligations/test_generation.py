"""Which branches a template reaches, and generation that never creates a row twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from core.db.session import Database
from core.obligations.generation import generate_instances, run_obligation_generation
from core.obligations.recurrence import Recurrence
from core.obligations.reference import find_jurisdiction
from core.tenancy.models import Branch
from tests.companies import new_branch, new_tenant
from tests.core.obligations.helpers import audit_count, instances_of, new_template

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)


async def test_district_template_reaches_every_branch_in_the_district(db: Database) -> None:
    tenant = await new_tenant(db)
    north = await new_branch(db, tenant, "DHK-N", district="Dhaka", city_corporation="Dhaka North")
    south = await new_branch(db, tenant, "DHK-S", city_corporation="dhaka  south")
    gazipur = await new_branch(db, tenant, "GZP-1", district="Gazipur")
    async with db.system_uow() as session:  # the reference rows `migrate` loaded
        district = await find_jurisdiction(session, "BD-DHA-DHAKA")
        city = await find_jurisdiction(session, "Dhaka North City Corporation")
    by_district = await new_template(
        db,
        tenant,
        anchor=date(2026, 4, 1),
        recurrence=Recurrence.none,
        jurisdiction_id=district.id,
        now=NOW,
    )
    by_city = await new_template(
        db,
        tenant,
        anchor=date(2026, 4, 2),
        recurrence=Recurrence.none,
        jurisdiction_id=city.id,
        now=NOW,
    )
    everywhere = await new_template(
        db, tenant, anchor=date(2026, 4, 3), recurrence=Recurrence.none, now=NOW
    )
    one_branch = await new_template(
        db, tenant, anchor=date(2026, 4, 4), recurrence=Recurrence.none, branch=gazipur, now=NOW
    )

    async def reached(template_id: object) -> set[object]:
        return {i.branch_id for i in await instances_of(db, tenant, template_id)}  # type: ignore[arg-type]

    assert await reached(by_district.template.id) == {north.id, south.id}
    assert await reached(by_city.template.id) == {north.id}
    assert await reached(everywhere.template.id) == {north.id, south.id, gazipur.id}
    assert await reached(one_branch.template.id) == {gazipur.id}


async def test_horizon_and_anchor_in_the_past(db: Database) -> None:
    tenant = await new_tenant(db)
    await new_branch(db, tenant, "ONE")
    result = await new_template(db, tenant, anchor=date(2025, 10, 31), now=NOW)
    dates = [i.due_at for i in await instances_of(db, tenant, result.template.id)]
    # The anchor the person asked for, then the series from today to 12 months ahead;
    # no invented backlog between the anchor and today.
    assert dates[0] == date(2025, 10, 31)
    assert dates[1:] == [
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 31),
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2027, 1, 31),
        date(2027, 2, 28),
    ]
    assert result.instances_created == len(dates)
    statuses = {i.due_at: i.status.value for i in await instances_of(db, tenant)}
    assert statuses[date(2025, 10, 31)] == "overdue"
    assert statuses[date(2026, 3, 31)] == "upcoming"


async def test_repeated_runs_add_nothing(db: Database) -> None:
    tenant = await new_tenant(db)
    for code in ("R1", "R2", "R3"):
        await new_branch(db, tenant, code)
    result = await new_template(db, tenant, anchor=date(2026, 3, 15), now=NOW)
    first = await instances_of(db, tenant)
    assert result.instances_created == len(first) == 3 * 12
    for _ in range(3):
        async with db.tenant_uow(tenant.id) as session:
            again = await generate_instances(session, tenant_id=tenant.id, today=TODAY)
        assert again == 0
    assert len(await instances_of(db, tenant)) == len(first)


async def test_concurrent_runs_add_each_row_once(db: Database) -> None:
    tenant = await new_tenant(db)
    for code in ("C1", "C2", "C3", "C4"):
        await new_branch(db, tenant, code)
    # A template whose instances do not exist yet: created at a date far back, so the
    # concurrent runs below (a year later) all have the same new rows to add.
    await new_template(db, tenant, anchor=date(2026, 3, 15), now=NOW)
    later = date(2027, 3, 10)

    async def run() -> int:
        async with db.tenant_uow(tenant.id) as session:
            return await generate_instances(session, tenant_id=tenant.id, today=later)

    results = await asyncio.gather(*(run() for _ in range(5)))
    rows = await instances_of(db, tenant)
    keys = [(i.template_id, i.branch_id, i.due_at) for i in rows]
    assert len(keys) == len(set(keys))
    assert sum(results) == 4 * 12  # 12 months more for each of 4 branches, created once
    assert max(i.due_at for i in rows) == date(2028, 2, 15)


async def test_generation_job_extends_horizon_for_new_branches(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db)
    await new_branch(db, tenant, "OLD")
    await new_template(db, tenant, anchor=date(2026, 3, 20), now=NOW)
    # A branch written straight into the table: `create_branch` would generate its
    # instances in its own transaction; the job must find those it lacks on its own.
    async with db.tenant_uow(tenant.id) as session:
        newcomer = Branch(tenant_id=tenant.id, code="NEW", name="Newcomer")
        session.add(newcomer)
    report = await run_obligation_generation(db, now=NOW)
    assert report.created == 12
    assert report.per_tenant[tenant.id] == 12
    assert {i.due_at for i in await instances_of(db, tenant) if i.branch_id == newcomer.id} == {
        date(2026, month, 20) for month in range(3, 13)
    } | {date(2027, 1, 20), date(2027, 2, 20)}
    assert (await run_obligation_generation(db, now=NOW)).created == 0
    assert await audit_count(db, tenant, "obligation.generate") == 1
    concurrent = await asyncio.gather(
        *(run_obligation_generation(db, now=datetime(2026, 6, 1, tzinfo=UTC)) for _ in range(3))
    )
    assert sum(r.created for r in concurrent) == 2 * 3  # March to May 2027 for two branches


async def test_every_n_days_counts_from_the_anchor(db: Database) -> None:
    tenant = await new_tenant(db)
    await new_branch(db, tenant, "EVERY")
    result = await new_template(
        db, tenant, anchor=date(2026, 1, 1), recurrence=Recurrence.every(45), now=NOW
    )
    dates = [i.due_at for i in await instances_of(db, tenant, result.template.id)]
    # The anchor, then every 45 days from it that falls from today to 12 months ahead.
    assert dates == [
        date(2026, 1, 1),
        date(2026, 4, 1),
        date(2026, 5, 16),
        date(2026, 6, 30),
        date(2026, 8, 14),
        date(2026, 9, 28),
        date(2026, 11, 12),
        date(2026, 12, 27),
        date(2027, 2, 10),
    ]
    assert result.instances_created == len(dates)


async def test_inactive_branches_and_templates_get_nothing_new(db: Database) -> None:
    tenant = await new_tenant(db)
    await new_branch(db, tenant, "ON")
    result = await new_template(
        db, tenant, anchor=date(2026, 3, 15), recurrence=Recurrence.monthly, now=NOW
    )
    async with db.tenant_uow(tenant.id) as session:
        template = await session.get_one(type(result.template), result.template.id)
        template.status = "inactive"
    async with db.tenant_uow(tenant.id) as session:
        later = await generate_instances(session, tenant_id=tenant.id, today=date(2027, 6, 1))
    assert later == 0
