"""Branches (SPEC §5, §6): renamed and moved, deactivated and activated, audited; a
deactivated branch generates no new obligations, its domains pause, nothing is deleted."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from core.audit.models import ActivityLog
from core.db.enums import AppRole, BranchStatus, ObligationCategory, Severity
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError, ValidationError
from core.i18n.errors import render_error
from core.obligations.generation import continue_series, generate_instances
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.obligations.queries import list_open_obligations
from core.obligations.recurrence import Recurrence
from core.obligations.reference import find_jurisdiction
from core.obligations.templates import TemplateResult, TemplateSpec, create_template
from core.ssl.models import Domain
from core.ssl.scheduler import claim_due
from core.ssl.service import plan_domain
from core.tenancy.models import Branch, Tenant
from core.tenancy.people import assignable_branches
from core.tenancy.scope import console_unit
from core.tenancy.service import (
    BranchChanges,
    list_branches,
    set_branch_active,
    update_branch,
)
from tests.companies import Company, company, new_branch, person
from tests.core.obligations.helpers import instances_of, new_template

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)


@pytest.fixture
async def firm(db: Database) -> Company:
    return await company(db)


async def branch_row(db: Database, tenant: Tenant, branch_id: uuid.UUID) -> Branch:
    async with db.tenant_uow(tenant.id) as session:
        return await session.get_one(Branch, branch_id)


async def audit_rows(db: Database, tenant: Tenant, action: str) -> list[ActivityLog]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(ActivityLog).where(ActivityLog.action == action).order_by(ActivityLog.id)
            )
        )


async def set_active(db: Database, firm: Company, code: str, active: bool) -> bool:
    async with console_unit(db, firm.tenant.id) as (session, actor):
        _, changed = await set_branch_active(session, actor, code, active)
    return changed


async def monthly_template(
    db: Database, firm: Company, *, branch: Branch | None = None, recurrence: Recurrence
) -> TemplateResult:
    async with console_unit(db, firm.tenant.id, now=NOW) as (session, actor):
        return await create_template(
            session,
            actor,
            TemplateSpec(
                category=ObligationCategory.trade_license,
                title="Trade licence",
                recurrence=recurrence,
                severity=Severity.high,
                anchor_date=date(2026, 3, 15),
                branch_id=branch.id if branch else None,
            ),
        )


async def instances_per_branch(db: Database, firm: Company) -> Counter[str]:
    async with db.tenant_uow(firm.tenant.id) as session:
        codes = await session.scalars(
            select(Branch.code).join(ObligationInstance, ObligationInstance.branch_id == Branch.id)
        )
        return Counter(codes)


# Editing


async def test_update_branch_renames_and_moves_with_audit(db: Database, firm: Company) -> None:
    async with console_unit(db, firm.tenant.id) as (session, actor):
        branch = await update_branch(
            session,
            actor,
            " dhk-01 ",
            BranchChanges(
                name="  Dhaka Head Office ",
                region="Dhaka",
                district="Dhaka",
                city_corporation="Dhaka North",
            ),
        )
    assert (branch.name, branch.region, branch.district, branch.city_corporation) == (
        "Dhaka Head Office",
        "Dhaka",
        "Dhaka",
        "Dhaka North City Corporation",
    )
    stored = await branch_row(db, firm.tenant, firm.dhaka.id)
    assert (stored.name, stored.city_corporation) == (
        "Dhaka Head Office",
        "Dhaka North City Corporation",
    )
    [log] = await audit_rows(db, firm.tenant, "branch.update")
    assert log.entity_id == str(firm.dhaka.id)
    assert log.before_json is not None
    assert log.after_json is not None
    assert (log.before_json["name"], log.after_json["name"]) == ("Dhaka HQ", "Dhaka Head Office")
    assert (log.before_json["district"], log.after_json["district"]) == (None, "Dhaka")

    async with console_unit(db, firm.tenant.id) as (session, actor):
        cleared = await update_branch(session, actor, "DHK-01", BranchChanges(city_corporation=" "))
    assert (cleared.city_corporation, cleared.district, cleared.region) == (None, "Dhaka", "Dhaka")
    assert cleared.name == "Dhaka Head Office"


async def test_update_branch_refusals(db: Database, firm: Company) -> None:
    async with console_unit(db, firm.tenant.id) as (session, actor):
        with pytest.raises(ValidationError) as empty:
            await update_branch(session, actor, "DHK-01", BranchChanges(name="   "))
        assert empty.value.code is ErrorCode.text_empty
        assert empty.value.message == "The branch name must not be empty."
        with pytest.raises(ValidationError) as long:
            await update_branch(session, actor, "DHK-01", BranchChanges(district="x" * 121))
        assert long.value.code is ErrorCode.text_too_long
        with pytest.raises(NotFoundError) as missing:
            await update_branch(session, actor, "NOPE-9", BranchChanges(name="X"))
        assert missing.value.message == "There is no branch NOPE-9."
        with pytest.raises(ValidationError) as malformed:
            await update_branch(session, actor, "bad code!", BranchChanges(name="X"))
        assert malformed.value.code is ErrorCode.branch_code_invalid
    manager = await person(db, firm.tenant, AppRole.branch_manager, [firm.dhaka])
    async with manager() as (session, actor):
        for attempt in (
            update_branch(session, actor, "DHK-01", BranchChanges(name="Mine")),
            set_branch_active(session, actor, "DHK-01", False),
        ):
            with pytest.raises(PermissionDeniedError) as refused:
                await attempt
            assert refused.value.code is ErrorCode.head_office_only
    stored = await branch_row(db, firm.tenant, firm.dhaka.id)
    assert (stored.name, stored.status) == ("Dhaka HQ", BranchStatus.active.value)
    assert await audit_rows(db, firm.tenant, "branch.update") == []


# Places: checked against the reference divisions, districts and city corporations


async def refused_place(db: Database, tenant: Tenant, **places: str) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        await new_branch(db, tenant, **places)
    return refused.value


async def test_a_new_branch_stores_the_canonical_places_and_fills_broader_ones(
    db: Database, tenant: Tenant
) -> None:
    def where(branch: Branch) -> tuple[str | None, str | None, str | None]:
        return branch.region, branch.district, branch.city_corporation

    dncc = ("Dhaka", "Dhaka", "Dhaka North City Corporation")
    assert where(await new_branch(db, tenant, city_corporation="dhaka  NORTH")) == dncc
    assert where(await new_branch(db, tenant, city_corporation="DNCC")) == dncc
    assert where(await new_branch(db, tenant, city_corporation="ঢাকা উত্তর")) == dncc
    assert (
        where(
            await new_branch(
                db,
                tenant,
                region=" DHAKA division",
                district="dhaka",
                city_corporation="Dhaka North City Corporation",
            )
        )
        == dncc
    )
    assert where(await new_branch(db, tenant, district="গাজীপুর")) == ("Dhaka", "Gazipur", None)
    assert where(await new_branch(db, tenant, district="cox's  bazar")) == (
        "Chattogram",
        "Cox's Bazar",
        None,
    )
    assert where(await new_branch(db, tenant, region="চট্টগ্রাম")) == ("Chattogram", None, None)
    assert where(await new_branch(db, tenant, region=" ", district="")) == (None, None, None)
    stored = await new_branch(db, tenant, "MYM-01", city_corporation="ময়মনসিংহ সিটি কর্পোরেশন")
    assert where(await branch_row(db, tenant, stored.id)) == (
        "Mymensingh",
        "Mymensingh",
        "Mymensingh City Corporation",
    )


async def test_a_misspelt_place_is_refused_with_the_nearest_names(
    db: Database, tenant: Tenant
) -> None:
    typo = await refused_place(db, tenant, district="Gazipr")
    assert typo.code is ErrorCode.place_unknown_suggested
    assert (typo.params["what"], typo.params["value"]) == ("district", "Gazipr")
    assert typo.params["suggestions"].split(", ")[0] == "Gazipur"
    assert typo.message.startswith("Unknown district “Gazipr”: did you mean Gazipur")
    assert render_error(typo, "bn").startswith("অজানা জেলা “Gazipr”: আপনি কি Gazipur")
    old_spelling = await refused_place(db, tenant, region="Barisal")
    assert old_spelling.params["suggestions"].split(", ")[0] == "Barishal"
    assert "division" in old_spelling.message
    corporation = await refused_place(db, tenant, city_corporation="Dhaka Nort")
    assert corporation.params["what"] == "city corporation"
    assert "Dhaka North" in corporation.params["suggestions"]
    bengali = await refused_place(db, tenant, district="গাজিপুর")
    assert "গাজীপুর" in bengali.params["suggestions"]
    nowhere = await refused_place(db, tenant, district="Anywhere")
    assert nowhere.code is ErrorCode.place_unknown
    assert nowhere.message == "Unknown district “Anywhere”."
    assert await list_branches(db, tenant) == []


async def test_places_that_do_not_fit_together_are_refused(db: Database, tenant: Tenant) -> None:
    district = await refused_place(db, tenant, region="Chattogram", district="Gazipur")
    assert district.code is ErrorCode.district_not_in_division
    assert district.message == "Gazipur district is not in Chattogram division."
    corporation = await refused_place(db, tenant, district="Dhaka", city_corporation="Gazipur")
    assert corporation.code is ErrorCode.city_corporation_not_in_district
    assert corporation.message == "Gazipur City Corporation is not in Dhaka district."
    far = await refused_place(db, tenant, region="Khulna", city_corporation="sylhet")
    assert far.code is ErrorCode.city_corporation_not_in_division
    assert far.message == "Sylhet City Corporation is not in Khulna division."
    assert render_error(far, "bn") == "Sylhet City Corporation Khulna বিভাগের মধ্যে নেই।"


async def test_moving_a_branch_checks_and_completes_its_places(db: Database, firm: Company) -> None:
    async def move(**changes: str) -> Branch:
        async with console_unit(db, firm.tenant.id) as (session, actor):
            return await update_branch(session, actor, "DHK-01", BranchChanges(**changes))

    moved = await move(city_corporation="DNCC")
    assert (moved.region, moved.district, moved.city_corporation) == (
        "Dhaka",
        "Dhaka",
        "Dhaka North City Corporation",
    )
    moved = await move(city_corporation="gazipur city corporation")
    assert (moved.region, moved.district, moved.city_corporation) == (
        "Dhaka",
        "Gazipur",
        "Gazipur City Corporation",
    )
    for changes, code in (
        ({"region": "Chattogram"}, ErrorCode.district_not_in_division),
        ({"district": "Narayanganj"}, ErrorCode.city_corporation_not_in_district),
        ({"district": "Gazipr"}, ErrorCode.place_unknown_suggested),
    ):
        with pytest.raises(ValidationError) as refused:
            await move(**changes)
        assert refused.value.code is code
    moved = await move(district="Narayanganj", city_corporation="")
    assert (moved.region, moved.district, moved.city_corporation) == ("Dhaka", "Narayanganj", None)
    moved = await move(region="Sylhet", district="সিলেট")
    assert (moved.region, moved.district, moved.city_corporation) == ("Sylhet", "Sylhet", None)
    stored = await branch_row(db, firm.tenant, firm.dhaka.id)
    assert (stored.region, stored.district) == ("Sylhet", "Sylhet")
    trail = await audit_rows(db, firm.tenant, "branch.update")
    assert [row.after_json["district"] for row in trail if row.after_json] == [
        "Dhaka",
        "Gazipur",
        "Narayanganj",
        "Sylhet",
    ]


async def test_places_recorded_before_the_reference_still_allow_a_rename(
    db: Database, firm: Company
) -> None:
    async with db.tenant_uow(firm.tenant.id) as session:
        await session.execute(
            update(Branch).where(Branch.id == firm.dhaka.id).values(district="Old Dhaka")
        )
    async with console_unit(db, firm.tenant.id) as (session, actor):
        renamed = await update_branch(session, actor, "DHK-01", BranchChanges(name="Dhaka Main"))
    assert (renamed.name, renamed.district) == ("Dhaka Main", "Old Dhaka")


async def test_without_reference_data_places_are_kept_as_given(
    private_target: DatabaseTarget, private_db: Database
) -> None:
    engine = create_async_engine(private_target.admin_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM jurisdictions WHERE country_code = 'BD'"))
    finally:
        await engine.dispose()
    firm = await company(private_db)
    branch = await new_branch(private_db, firm.tenant, district=" Anywhere ", region="x")
    assert (branch.region, branch.district, branch.city_corporation) == ("x", "Anywhere", None)
    async with console_unit(private_db, firm.tenant.id) as (session, actor):
        moved = await update_branch(
            session, actor, "DHK-01", BranchChanges(city_corporation="DHAKA  NORTH")
        )
    assert (moved.region, moved.district, moved.city_corporation) == (None, None, "DHAKA  NORTH")


async def test_deactivate_and_activate_round_trip(db: Database, firm: Company) -> None:
    assert await set_active(db, firm, "ctg-02", False)
    assert (await branch_row(db, firm.tenant, firm.chattogram.id)).status == "inactive"
    assert not await set_active(db, firm, "CTG-02", False)
    async with console_unit(db, firm.tenant.id) as (session, actor):
        assert [choice.code for choice in await assignable_branches(session)] == ["DHK-01"]
    assert await set_active(db, firm, "CTG-02", True)
    assert not await set_active(db, firm, "CTG-02", True)
    assert (await branch_row(db, firm.tenant, firm.chattogram.id)).status == "active"

    [off] = await audit_rows(db, firm.tenant, "branch.deactivate")
    [on] = await audit_rows(db, firm.tenant, "branch.activate")
    for log, before, after in ((off, "active", "inactive"), (on, "inactive", "active")):
        assert log.entity_id == str(firm.chattogram.id)
        assert log.user_id is None
        assert log.before_json is not None
        assert log.after_json is not None
        assert (log.before_json["status"], log.after_json["status"]) == (before, after)
    admin = await person(db, firm.tenant, AppRole.head_office_admin, name="Nadia")
    async with admin() as (session, actor):
        branch, changed = await set_branch_active(session, actor, "DHK-01", False)
    assert (branch.status, changed) == ("inactive", True)
    _, by_admin = await audit_rows(db, firm.tenant, "branch.deactivate")
    assert (by_admin.entity_id, by_admin.user_id) == (str(firm.dhaka.id), admin.user_id)


# What deactivation stops, and what it keeps


async def test_a_deactivated_branch_generates_nothing_new(db: Database, firm: Company) -> None:
    series = await monthly_template(db, firm, recurrence=Recurrence.monthly)
    assert await instances_per_branch(db, firm) == Counter({"DHK-01": 12, "CTG-02": 12})
    assert await set_active(db, firm, "CTG-02", False)

    later = date(2026, 6, 10)
    async with db.tenant_uow(firm.tenant.id) as session:
        created = await generate_instances(
            session, tenant_id=firm.tenant.id, today=later, template_ids=[series.template.id]
        )
    assert created == 3
    assert await instances_per_branch(db, firm) == Counter({"DHK-01": 15, "CTG-02": 12})

    everywhere = await monthly_template(db, firm, recurrence=Recurrence.none)
    only_ctg = await monthly_template(db, firm, branch=firm.chattogram, recurrence=Recurrence.none)
    assert (everywhere.instances_created, only_ctg.instances_created) == (1, 0)

    async with db.tenant_uow(firm.tenant.id) as session:
        template = await session.get_one(ObligationTemplate, series.template.id)
        last_of_ctg = await session.scalar(
            select(ObligationInstance)
            .where(ObligationInstance.branch_id == firm.chattogram.id)
            .order_by(ObligationInstance.due_at.desc())
            .limit(1)
        )
        assert last_of_ctg is not None
        assert await continue_series(session, last_of_ctg, template, later) is None
    assert await instances_per_branch(db, firm) == Counter({"DHK-01": 16, "CTG-02": 12})

    assert await set_active(db, firm, "CTG-02", True)
    # Activating generated the branch's missing instances at once (to the real horizon).
    assert (await instances_per_branch(db, firm))["CTG-02"] > 12
    async with db.tenant_uow(firm.tenant.id) as session:
        resumed = await generate_instances(
            session, tenant_id=firm.tenant.id, today=later, template_ids=[series.template.id]
        )
        template = await session.get_one(ObligationTemplate, series.template.id)
        last_of_ctg = await session.scalar(
            select(ObligationInstance)
            .where(ObligationInstance.branch_id == firm.chattogram.id)
            .order_by(ObligationInstance.due_at.desc())
            .limit(1)
        )
        assert last_of_ctg is not None
        following = await continue_series(session, last_of_ctg, template, later)
    assert resumed == 0
    assert following is not None
    assert following.branch_id == firm.chattogram.id
    assert following.due_at > last_of_ctg.due_at


async def test_open_obligations_of_a_deactivated_branch_stay_visible(
    db: Database, firm: Company
) -> None:
    await monthly_template(db, firm, recurrence=Recurrence.none)
    assert await set_active(db, firm, "CTG-02", False)
    async with console_unit(db, firm.tenant.id) as (session, actor):
        everything = await list_open_obligations(session, actor, page_size=50)
        of_ctg = await list_open_obligations(
            session, actor, branch_id=firm.chattogram.id, page_size=50
        )
    assert sorted(item.branch_code for item in everything.items) == ["CTG-02", "DHK-01"]
    assert [item.branch_code for item in of_ctg.items] == ["CTG-02"]
    async with db.tenant_uow(firm.tenant.id) as session:
        kept = await session.scalar(
            select(ObligationInstance.id).where(ObligationInstance.branch_id == firm.chattogram.id)
        )
    assert kept is not None


async def test_domains_of_a_deactivated_branch_pause(private_db: Database) -> None:
    firm = await company(private_db)
    async with private_db.tenant_uow(firm.tenant.id) as session:
        domains = {
            name: Domain(
                tenant_id=firm.tenant.id,
                branch_id=branch,
                hostname=f"{name}-{uuid.uuid4().hex[:6]}.intrex.test",
            )
            for name, branch in (
                ("dhk", firm.dhaka.id),
                ("ctg", firm.chattogram.id),
                ("head-office", None),
            )
        }
        session.add_all(domains.values())
    ids = {name: domain.id for name, domain in domains.items()}
    assert await set_active(private_db, firm, "CTG-02", False)

    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = timedelta(minutes=5)
    claimed = await claim_due(private_db, now=now, lease=lease, token=uuid.uuid4(), limit=100)
    assert {domain.id for domain in claimed} == {ids["dhk"], ids["head-office"]}
    assert await claim_due(private_db, now=now, lease=lease, token=uuid.uuid4(), limit=100) == []

    assert await set_active(private_db, firm, "CTG-02", True)
    resumed = await claim_due(private_db, now=now, lease=lease, token=uuid.uuid4(), limit=100)
    assert [domain.id for domain in resumed] == [ids["ctg"]]


async def test_a_domain_cannot_be_planned_for_a_deactivated_branch(
    db: Database, firm: Company
) -> None:
    host = f"shop-{uuid.uuid4().hex[:6]}.intrex.test"
    assert await set_active(db, firm, "CTG-02", False)
    async with console_unit(db, firm.tenant.id) as (session, actor):
        with pytest.raises(ValidationError) as refused:
            await plan_domain(session, actor, host, "ctg-02")
        assert refused.value.code is ErrorCode.branch_inactive
        assert refused.value.message == "Branch CTG-02 is deactivated: activate it first."
        elsewhere = await plan_domain(session, actor, host, "DHK-01")
        assert elsewhere.branch_code == "DHK-01"
    assert await set_active(db, firm, "CTG-02", True)
    async with console_unit(db, firm.tenant.id) as (session, actor):
        planned = await plan_domain(session, actor, host, "CTG-02")
    assert (planned.branch_id, planned.branch_code) == (firm.chattogram.id, "CTG-02")


async def test_a_branch_created_moved_or_reactivated_gets_its_obligations_at_once(
    db: Database, tenant: Tenant
) -> None:
    async with db.tenant_uow(tenant.id) as session:
        dncc = await find_jurisdiction(session, "BD-DNCC")
    first = await new_branch(db, tenant, "DN-1", city_corporation="Dhaka North")
    made = await new_template(
        db,
        tenant,
        anchor=date.today() + timedelta(days=40),
        recurrence=Recurrence.monthly,
        jurisdiction_id=dncc.id,
    )

    async def dates_of(branch: Branch) -> list[date]:
        found = await instances_of(db, tenant, made.template.id)
        return [i.due_at for i in found if i.branch_id == branch.id]

    expected = await dates_of(first)
    assert len(expected) >= 11
    added = await new_branch(db, tenant, "DN-2", city_corporation="Dhaka North")
    assert await dates_of(added) == expected

    elsewhere = await new_branch(db, tenant, "CTG-1", city_corporation="Chattogram")
    assert await dates_of(elsewhere) == []
    async with console_unit(db, tenant.id) as (session, actor):
        await update_branch(
            session, actor, "CTG-1", BranchChanges(city_corporation="Dhaka North City Corporation")
        )
    assert await dates_of(elsewhere) == expected

    async with console_unit(db, tenant.id) as (session, actor):
        await set_branch_active(session, actor, "DN-2", False)
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            text("DELETE FROM obligation_instances WHERE branch_id = :b"), {"b": added.id}
        )
    async with console_unit(db, tenant.id) as (session, actor):
        await set_branch_active(session, actor, "DN-2", True)
    assert await dates_of(added) == expected
