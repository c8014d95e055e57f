"""The catalogue of standard obligations: its data, adoption into a tenant, and what the
adopted templates generate for branches in Dhaka North and Chattogram, now and later."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core.audit.models import ActivityLog
from core.db.enums import AppRole, Severity
from core.db.session import Database
from core.errors import ErrorCode, PermissionDeniedError, ValidationError
from core.obligations.catalogue import (
    AdoptionReport,
    AnchorRule,
    adopt_catalogue,
    catalogue,
    entry_for,
    lead_days_for,
)
from core.obligations.generation import run_obligation_generation
from core.obligations.models import ObligationTemplate
from core.tenancy.models import Branch, Tenant
from core.tenancy.scope import console_unit
from tests.companies import new_branch, new_tenant, person
from tests.core.obligations.helpers import instances_of

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)
"""Noon in Dhaka: the tenant's today."""
KEYS = {
    "bd.trade_licence",
    "bd.fire_licence",
    "bd.fire_plan",
    "bd.vat_return",
    "bd.income_tax",
    "bd.ecc",
    "bd.effluent",
    "bd.factory_licence",
    "bd.boiler",
    "bd.weights_measures",
    "bd.irc",
    "bd.erc",
}
VAT_DUES = [date(2026, month, 15) for month in range(3, 13)] + [
    date(2027, 1, 15),
    date(2027, 2, 15),
]
ONE_YEAR_ON = date(2027, 3, 10)
"""The first due date of the entries anchored a year after adoption."""


async def dhaka_north(db: Database, tenant: Tenant, code: str) -> Branch:
    return await new_branch(
        db,
        tenant,
        code,
        region="Dhaka",
        district="Dhaka",
        city_corporation="Dhaka North City Corporation",
    )


async def chattogram(db: Database, tenant: Tenant, code: str) -> Branch:
    return await new_branch(
        db,
        tenant,
        code,
        region="Chattogram",
        district="Chattogram",
        city_corporation="Chattogram City Corporation",
    )


async def adopt(
    db: Database,
    tenant: Tenant,
    keys: list[str] | None = None,
    *,
    jurisdiction: str | None = None,
    now: datetime = NOW,
) -> AdoptionReport:
    async with console_unit(db, tenant.id, now=now) as (session, actor):
        return await adopt_catalogue(session, actor, keys, jurisdiction=jurisdiction)


def test_the_catalogue_holds_the_twelve_standard_obligations_in_both_languages() -> None:
    entries = catalogue("bd")
    assert {entry.key for entry in entries} == KEYS
    for entry in entries:
        assert entry.title_en
        assert entry.title_bn
        assert entry.title_en != entry.title_bn
        assert entry.description_en
        assert entry.description_bn
    trade = entry_for("bd.trade_licence")
    assert (trade.lead, trade.grace_days, trade.severity) == (30, 15, Severity.high)
    assert str(trade.recurrence) == "annual"
    assert str(entry_for("vat_return").recurrence) == "monthly"
    assert entry_for("BD.Fire_Plan").lead_days == (45, 14, 7, 3, 1, 0)
    assert entry_for("bd.vat_return").lead_days == (7, 3, 1, 0)
    assert entry_for("bd.boiler").lead_days == (30, 14, 7, 3, 1, 0)
    assert lead_days_for(10) == (10, 7, 3, 1, 0)


def test_anchor_rules_fall_on_or_after_the_day_of_adoption() -> None:
    fiscal_year_end = AnchorRule(rule="yearly", month=6, day=30)
    assert fiscal_year_end.first_due(date(2026, 3, 10)) == date(2026, 6, 30)
    assert fiscal_year_end.first_due(date(2026, 6, 30)) == date(2026, 6, 30)
    assert fiscal_year_end.first_due(date(2026, 7, 1)) == date(2027, 6, 30)
    fifteenth = AnchorRule(rule="monthly", day=15)
    assert fifteenth.first_due(date(2026, 3, 10)) == date(2026, 3, 15)
    assert fifteenth.first_due(date(2026, 12, 16)) == date(2027, 1, 15)
    a_year_on = AnchorRule(rule="after_adoption", months=12)
    assert a_year_on.first_due(date(2028, 2, 29)) == date(2029, 2, 28)


def test_an_unknown_key_is_refused_with_the_closest_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        entry_for("bd.trade_license")
    assert refused.value.code is ErrorCode.catalogue_key_unknown
    assert "bd.trade_licence" in refused.value.message
    with pytest.raises(ValidationError) as nothing_close:
        entry_for("zzz")
    assert all(key in nothing_close.value.message for key in KEYS)


async def test_adopting_the_catalogue_covers_dhaka_north_and_chattogram_and_later_branches(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    gulshan = await dhaka_north(db, tenant, "DNC-01")
    agrabad = await chattogram(db, tenant, "CTG-01")

    report = await adopt(db, tenant)

    assert {view.catalogue_key for view in report.adopted} == KEYS
    assert report.already_adopted == []
    assert all(view.jurisdiction_label == "Bangladesh" for view in report.adopted)
    instances = await instances_of(db, tenant)
    assert report.instances_created == len(instances) == 2 * 23
    templates = {view.id: view for view in report.adopted}
    for branch in (gulshan, agrabad):
        mine = [i for i in instances if i.branch_id == branch.id]
        by_key = Counter(templates[i.template_id].catalogue_key for i in mine)
        assert by_key["bd.vat_return"] == 12
        assert all(by_key[key] == 1 for key in KEYS - {"bd.vat_return"})
        vat = [i for i in mine if templates[i.template_id].catalogue_key == "bd.vat_return"]
        assert [i.due_at for i in vat] == VAT_DUES
        assert vat[0].next_reminder_on == date(2026, 3, 8)  # lead 7 before the 15th
        assert vat[0].title == "VAT return (Mushak 9.1)"
        (trade,) = [i for i in mine if templates[i.template_id].catalogue_key == "bd.trade_licence"]
        assert (trade.due_at, trade.severity) == (date(2026, 6, 30), Severity.high)
        (tax,) = [i for i in mine if templates[i.template_id].catalogue_key == "bd.income_tax"]
        assert (tax.due_at, tax.severity) == (date(2027, 1, 15), Severity.critical)
        (plan,) = [i for i in mine if templates[i.template_id].catalogue_key == "bd.fire_plan"]
        assert plan.due_at == ONE_YEAR_ON
        assert plan.next_reminder_on == ONE_YEAR_ON - timedelta(days=45)
    adopted = {view.catalogue_key: view for view in report.adopted}
    assert adopted["bd.trade_licence"].grace_days == 15
    assert adopted["bd.fire_plan"].reminder_lead_days == (45, 14, 7, 3, 1, 0)

    banani = await dhaka_north(db, tenant, "DNC-02")
    made = [i for i in await instances_of(db, tenant) if i.branch_id == banani.id]
    await run_obligation_generation(db)

    everything = await instances_of(db, tenant)
    again = [i for i in everything if i.branch_id == banani.id]
    assert len(again) == len(made) > 0  # never twice
    async with console_unit(db, tenant.id) as (_, actor):
        today = actor.today
    assert {(i.template_id, i.series_date) for i in again} == {
        (i.template_id, i.series_date)
        for i in everything
        if i.branch_id == gulshan.id and i.series_date >= today
    }
    assert Counter(templates[i.template_id].catalogue_key for i in again)["bd.vat_return"] == 12


async def test_a_catalogue_entry_adopted_for_dhaka_north_reaches_only_its_branches(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    gulshan = await dhaka_north(db, tenant, "DNC-01")
    await chattogram(db, tenant, "CTG-01")

    report = await adopt(db, tenant, ["trade_licence"], jurisdiction="dhaka north city corporation")

    (view,) = report.adopted
    assert view.jurisdiction_label == "Dhaka North City Corporation"
    assert view.applies_to == "jurisdiction"
    assert {i.branch_id for i in await instances_of(db, tenant)} == {gulshan.id}
    banani = await dhaka_north(db, tenant, "DNC-02")
    await chattogram(db, tenant, "CTG-02")
    await run_obligation_generation(db, now=NOW)
    assert {i.branch_id for i in await instances_of(db, tenant)} == {gulshan.id, banani.id}


async def test_adopting_twice_adds_nothing(db: Database) -> None:
    tenant = await new_tenant(db)
    await dhaka_north(db, tenant, "DNC-01")
    first = await adopt(db, tenant, ["bd.vat_return", "bd.boiler"])
    assert len(first.adopted) == 2
    count = len(await instances_of(db, tenant))

    again = await adopt(db, tenant, None, now=NOW + timedelta(days=1))
    twice = await adopt(db, tenant, ["bd.vat_return", "bd.vat_return"])

    assert sorted(again.already_adopted) == ["bd.boiler", "bd.vat_return"]
    assert len(again.adopted) == 10
    assert (twice.adopted, twice.already_adopted) == ([], ["bd.vat_return"])
    async with db.tenant_uow(tenant.id) as session:
        keys = list(await session.scalars(select(ObligationTemplate.catalogue_key)))
        created = list(
            await session.scalars(
                select(ActivityLog.id).where(ActivityLog.action == "obligation_template.create")
            )
        )
    assert sorted(keys) == sorted(KEYS)  # type: ignore[type-var]
    assert len(created) == 12
    assert len(await instances_of(db, tenant)) > count


async def test_a_bengali_tenant_adopts_bengali_titles(db: Database) -> None:
    tenant = await new_tenant(db)
    await chattogram(db, tenant, "CTG-01")
    async with db.system_uow() as session:
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(language="bn"))

    report = await adopt(db, tenant, ["bd.vat_return"])

    (view,) = report.adopted
    assert view.title == "ভ্যাট রিটার্ন (মূসক ৯.১)"
    assert view.description is not None
    assert "জাতীয় রাজস্ব বোর্ড" in view.description
    assert {i.title for i in await instances_of(db, tenant)} == {view.title}


async def test_an_unknown_key_or_place_adopts_nothing_and_only_head_office_adopts(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    branch = await dhaka_north(db, tenant, "DNC-01")
    with pytest.raises(ValidationError):
        await adopt(db, tenant, ["bd.vat_return", "bd.fire_license"])
    with pytest.raises(Exception, match="jurisdiction"):
        await adopt(db, tenant, ["bd.vat_return"], jurisdiction="Atlantis")
    for role in (AppRole.branch_manager, AppRole.operator):
        units = await person(db, tenant, role, [branch])
        async with units(now=NOW) as (session, actor):
            with pytest.raises(PermissionDeniedError) as refused:
                await adopt_catalogue(session, actor, None)
        assert refused.value.code is ErrorCode.head_office_only
    assert await instances_of(db, tenant) == []
