"""Templates as head office manages them: create (validated), list, find, update (future
open instances only), deactivate and re-activate, each audited and refused to the others."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.audit.models import ActivityLog
from core.db.enums import (
    AppRole,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    ObligationStatus,
    Severity,
)
from core.db.session import Database
from core.errors import (
    ErrorCode,
    IntrexError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.notify.events import emit_event
from core.notify.models import NotificationEvent
from core.obligations.actions import complete_obligation
from core.obligations.generation import run_obligation_generation
from core.obligations.manage import InstanceChanges, update_obligation
from core.obligations.models import ObligationInstance
from core.obligations.recurrence import Recurrence
from core.obligations.reference import find_jurisdiction
from core.obligations.templates import (
    TemplateChanges,
    TemplateScope,
    TemplateSpec,
    UpdateResult,
    create_template,
    find_template,
    list_templates,
    set_template_active,
    update_template,
)
from core.storage import LocalStorage
from core.tenancy.models import Branch, Tenant
from core.tenancy.scope import console_unit
from tests.companies import new_branch, new_tenant, person
from tests.core.obligations.helpers import instances_of, new_template, upload_proof

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


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
        db, tenant, code, region="Chattogram", district="Chattogram", city_corporation=None
    )


async def change(
    db: Database, tenant: Tenant, template_id: uuid.UUID, changes: TemplateChanges
) -> UpdateResult:
    async with console_unit(db, tenant.id, now=NOW) as (session, actor):
        return await update_template(session, actor, template_id, changes)


async def set_active(db: Database, tenant: Tenant, template_id: uuid.UUID, active: bool) -> bool:
    async with console_unit(db, tenant.id, now=NOW) as (session, actor):
        _, changed = await set_template_active(session, actor, template_id, active)
    return changed


def spec(**overrides: object) -> TemplateSpec:
    fields: dict[str, object] = {
        "category": ObligationCategory.fire_safety,
        "title": "Fire drill",
        "recurrence": Recurrence.monthly,
        "severity": Severity.medium,
        "anchor_date": date(2026, 4, 1),
    }
    fields.update(overrides)
    return TemplateSpec(**fields)  # type: ignore[arg-type]


async def refusal(db: Database, tenant: Tenant, wanted: TemplateSpec) -> IntrexError:
    async with console_unit(db, tenant.id, now=NOW) as (session, actor):
        with pytest.raises(IntrexError) as refused:
            await create_template(session, actor, wanted)
    return refused.value


async def test_a_new_template_is_validated_before_anything_is_written(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await dhaka_north(db, tenant, "DNC-01")
    other = await chattogram(db, tenant, "CTG-01")
    manager = await person(db, tenant, AppRole.branch_manager, [other], name="Mina")
    leaver = await person(db, tenant, AppRole.operator, [branch], name="Opu")
    async with db.tenant_uow(tenant.id) as session:
        from core.tenancy.models import User

        (await session.get_one(User, leaver.user_id)).status = "disabled"
    async with db.system_uow() as session:
        city = await find_jurisdiction(session, "BD-DNCC")

    checks = [
        (spec(grace_days=367), ErrorCode.grace_days_out_of_range),
        (spec(grace_days=-1), ErrorCode.grace_days_out_of_range),
        (spec(reminder_lead_days=(30, 400)), ErrorCode.lead_days_out_of_range),
        (spec(reminder_lead_days=()), ErrorCode.lead_days_empty),
        (spec(anchor_date=date(1, 1, 1)), ErrorCode.due_date_out_of_range),
        (spec(title="   "), ErrorCode.text_empty),
        (spec(jurisdiction_id=city.id, branch_id=branch.id), ErrorCode.template_scope_ambiguous),
        (spec(jurisdiction_id=uuid.uuid4()), ErrorCode.jurisdiction_not_found),
        (spec(owner_user_id=2_000_000_000), ErrorCode.user_not_found),
        (spec(owner_user_id=leaver.user_id), ErrorCode.owner_inactive),
        (spec(owner_user_id=manager.user_id, branch_id=branch.id), ErrorCode.owner_not_in_scope),
    ]
    for wanted, code in checks:
        assert (await refusal(db, tenant, wanted)).code is code, wanted
    assert await instances_of(db, tenant) == []

    owned = await new_template(
        db,
        tenant,
        anchor=date(2026, 4, 1),
        owner_user_id=manager.user_id,
        grace_days=10,
        now=NOW,
    )
    instances = await instances_of(db, tenant, owned.template.id)
    assert {i.owner_user_id for i in instances if i.branch_id == other.id} == {manager.user_id}
    assert {i.owner_user_id for i in instances if i.branch_id == branch.id} == {None}
    assert owned.template.grace_days == 10


async def test_list_and_find_say_where_each_template_applies_and_what_is_open(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    branch = await dhaka_north(db, tenant, "DNC-01")
    await chattogram(db, tenant, "CTG-01")
    async with db.system_uow() as session:
        city = await find_jurisdiction(session, "Dhaka North City Corporation")
    everywhere = await new_template(db, tenant, anchor=date(2026, 4, 1), title="A", now=NOW)
    in_city = await new_template(
        db, tenant, anchor=date(2026, 4, 1), title="B", jurisdiction_id=city.id, now=NOW
    )
    one = await new_template(
        db, tenant, anchor=date(2026, 4, 1), title="C", recurrence=Recurrence.none, branch=branch
    )
    await set_active(db, tenant, one.template.id, False)

    async with console_unit(db, tenant.id, now=NOW) as (session, actor):
        active = await list_templates(session, actor)
        every = await list_templates(session, actor, include_inactive=True)
        prefix = everywhere.template.id.hex[:8]
        assert await find_template(session, actor, prefix.upper()) == everywhere.template.id
        assert await find_template(session, actor, str(in_city.template.id)) == in_city.template.id
        for wrong in ("abc", "zzzzzzzz", uuid.uuid4().hex):
            with pytest.raises(NotFoundError):
                await find_template(session, actor, wrong)

    assert [view.title for view in active] == ["A", "B"]
    assert [view.title for view in every] == ["A", "B", "C"]
    a, b, c = every
    assert (a.applies_to, a.open_instances) == ("all", 24)
    assert (b.applies_to, b.jurisdiction_label, b.open_instances) == (
        "jurisdiction",
        "Dhaka North City Corporation",
        12,
    )
    assert (c.applies_to, c.branch_code, c.active, c.open_instances) == (
        "branch",
        "DNC-01",
        False,
        1,
    )
    assert c.as_json()["branch"] == "DNC-01"


async def test_update_changes_future_open_instances_only(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await dhaka_north(db, tenant, "DNC-01")
    admin = await person(db, tenant, AppRole.head_office_admin, name="Ayesha")
    result = await new_template(
        db, tenant, anchor=date(2026, 1, 20), title="VAT return", severity=Severity.high, now=NOW
    )
    template_id = result.template.id
    instances = await instances_of(db, tenant, template_id)
    past = instances[0]  # the anchor, 20 January: overdue now
    assert past.due_at == date(2026, 1, 20)
    async with admin(now=NOW) as (session, actor):
        await complete_obligation(session, actor, past.id, now=NOW)
    overdue = await new_template(
        db, tenant, anchor=date(2026, 2, 20), recurrence=Recurrence.none, title="Old", now=NOW
    )

    changed = await change(
        db,
        tenant,
        template_id,
        TemplateChanges(
            title="VAT return (Mushak 9.1)",
            severity=Severity.critical,
            category=ObligationCategory.tax_vat,
            reminder_lead_days=(10, 2),
        ),
    )

    assert changed.changed
    assert changed.instances_updated == 12
    assert changed.instances_removed == 0
    by_due = {i.due_at: i for i in await instances_of(db, tenant, template_id)}
    kept = by_due[date(2026, 1, 20)]
    assert (kept.status, kept.title, kept.severity) == (
        ObligationStatus.completed,
        "VAT return",
        Severity.high,
    )
    following = [i for due, i in by_due.items() if due > TODAY]
    assert len(following) == 12
    assert {(i.title, i.severity) for i in following} == {
        ("VAT return (Mushak 9.1)", Severity.critical)
    }
    assert by_due[date(2026, 3, 20)].next_reminder_on == date(2026, 3, 10)  # 10 days before
    assert by_due[date(2026, 4, 20)].next_reminder_on == date(2026, 4, 10)
    (old,) = await instances_of(db, tenant, overdue.template.id)
    assert old.due_at < TODAY
    assert old.title == "Old"
    async with db.tenant_uow(tenant.id) as session:
        entry = await session.scalar(
            select(ActivityLog).where(
                ActivityLog.action == "obligation_template.update",
                ActivityLog.entity_id == str(template_id),
            )
        )
    assert entry is not None
    assert entry.before_json is not None
    assert entry.after_json is not None
    assert (entry.before_json["title"], entry.after_json["title"]) == (
        "VAT return",
        "VAT return (Mushak 9.1)",
    )
    assert entry.after_json["reminder_lead_days"] == [10, 2]
    assert entry.after_json["future_open_instances"]["updated"] == 12

    unchanged = await change(
        db, tenant, template_id, TemplateChanges(title="VAT return (Mushak 9.1)")
    )
    assert not unchanged.changed
    assert branch.id == kept.branch_id


async def test_a_new_recurrence_or_scope_replaces_the_future_instances_that_no_longer_fit(
    db: Database, tmp_path: Path
) -> None:
    tenant = await new_tenant(db)
    north = await dhaka_north(db, tenant, "DNC-01")
    ctg = await chattogram(db, tenant, "CTG-01")
    admin = await person(db, tenant, AppRole.head_office_admin, name="Ayesha")
    result = await new_template(db, tenant, anchor=date(2026, 3, 15), lead_days=(7, 0), now=NOW)
    template_id = result.template.id
    before = {(i.branch_id, i.due_at): i for i in await instances_of(db, tenant, template_id)}
    with_proof = before[(north.id, date(2026, 4, 15))]
    await upload_proof(admin, with_proof.id, "receipt.pdf", PDF, LocalStorage(tmp_path), now=NOW)
    reminded = before[(ctg.id, date(2026, 3, 15))]
    async with db.tenant_uow(tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=tenant.id,
            event_type=NotificationEventType.obligation_due,
            severity=Severity.high,
            fingerprint=f"obligation_due:{reminded.id}:7",
            payload={"title": reminded.title},
            branch_id=ctg.id,
        )
    assert event is not None

    quarterly = await change(
        db, tenant, template_id, TemplateChanges(recurrence=Recurrence.quarterly)
    )

    after = {(i.branch_id, i.due_at) for i in await instances_of(db, tenant, template_id)}
    quarters = [date(2026, 3, 15), date(2026, 6, 15), date(2026, 9, 15), date(2026, 12, 15)]
    assert after == {(b, due) for b in (north.id, ctg.id) for due in quarters} | {
        (north.id, date(2026, 4, 15))  # it has proof: kept
    }
    assert quarterly.instances_removed == 2 * 12 - 2 * 4 - 1
    assert quarterly.instances_kept_with_proof == 1
    assert quarterly.resolved_alerts == 0  # the reminded one (15 March) still fits

    async with db.system_uow() as session:
        city = await find_jurisdiction(session, "BD-DNCC")
    moved = await change(
        db, tenant, template_id, TemplateChanges(scope=TemplateScope(jurisdiction_id=city.id))
    )

    assert moved.instances_removed == 4
    assert moved.resolved_alerts == 1
    assert {i.branch_id for i in await instances_of(db, tenant, template_id)} == {north.id}
    async with db.tenant_uow(tenant.id) as session:
        closed = await session.get_one(NotificationEvent, event.id)
    assert closed.status is NotificationStatus.cancelled
    assert closed.resolution == "deleted"

    back = await change(
        db,
        tenant,
        template_id,
        TemplateChanges(scope=TemplateScope(), anchor_date=date(2026, 3, 20)),
    )
    assert back.instances_created == 2 * 4
    assert sorted(
        i.due_at for i in await instances_of(db, tenant, template_id) if i.branch_id == ctg.id
    ) == [date(2026, 3, 20), date(2026, 6, 20), date(2026, 9, 20), date(2026, 12, 20)]


async def test_the_template_owner_passes_to_future_instances_in_their_scope(db: Database) -> None:
    tenant = await new_tenant(db)
    north = await dhaka_north(db, tenant, "DNC-01")
    ctg = await chattogram(db, tenant, "CTG-01")
    mina = await person(db, tenant, AppRole.branch_manager, [north], name="Mina")
    result = await new_template(db, tenant, anchor=date(2026, 4, 1), now=NOW)

    await change(db, tenant, result.template.id, TemplateChanges(owner_user_id=mina.user_id))

    owners = {(i.branch_id, i.owner_user_id) for i in await instances_of(db, tenant)}
    assert owners == {(north.id, mina.user_id), (ctg.id, None)}
    await change(db, tenant, result.template.id, TemplateChanges(clear_owner=True))
    assert {i.owner_user_id for i in await instances_of(db, tenant)} == {None}
    async with console_unit(db, tenant.id, now=NOW) as (session, actor):
        with pytest.raises(ValidationError) as refused:
            await update_template(
                session,
                actor,
                result.template.id,
                TemplateChanges(owner_user_id=mina.user_id, scope=TemplateScope(branch_id=ctg.id)),
            )
    assert refused.value.code is ErrorCode.owner_not_in_scope


async def test_deactivating_stops_generation_and_keeps_history(db: Database) -> None:
    tenant = await new_tenant(db)
    await dhaka_north(db, tenant, "DNC-01")
    result = await new_template(db, tenant, anchor=date(2026, 4, 1), now=NOW)
    template_id = result.template.id
    assert await set_active(db, tenant, template_id, False)
    assert not await set_active(db, tenant, template_id, False)
    later = await dhaka_north(db, tenant, "DNC-02")

    await run_obligation_generation(db, now=NOW + timedelta(days=40))

    instances = await instances_of(db, tenant, template_id)
    assert len(instances) == 12
    assert later.id not in {i.branch_id for i in instances}

    assert await set_active(db, tenant, template_id, True)
    async with db.tenant_uow(tenant.id) as session:
        created = await session.scalar(
            select(ActivityLog.after_json).where(
                ActivityLog.action == "obligation_template.activate"
            )
        )
        deactivated = await session.scalar(
            select(ActivityLog.before_json).where(
                ActivityLog.action == "obligation_template.deactivate"
            )
        )
    assert created is not None
    assert created["instances_created"] == 12
    assert deactivated is not None
    assert deactivated["status"] == "active"
    assert (
        len([i for i in await instances_of(db, tenant, template_id) if i.branch_id == later.id])
        == 12
    )


async def test_only_head_office_manages_templates(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await dhaka_north(db, tenant, "DNC-01")
    result = await new_template(db, tenant, anchor=date(2026, 4, 1), now=NOW)
    for role in (AppRole.branch_manager, AppRole.operator):
        units = await person(db, tenant, role, [branch])
        async with units(now=NOW) as (session, actor):
            attempts = [
                list_templates(session, actor),
                find_template(session, actor, result.template.id.hex),
                create_template(session, actor, spec()),
                update_template(session, actor, result.template.id, TemplateChanges(title="X")),
                set_template_active(session, actor, result.template.id, False),
            ]
            for attempt in attempts:
                with pytest.raises(PermissionDeniedError) as refused:
                    await attempt
                assert refused.value.code is ErrorCode.head_office_only
    async with db.tenant_uow(tenant.id) as session:
        titles = set(await session.scalars(select(ObligationInstance.title)))
    assert titles == {"VAT return"}


async def test_an_occurrence_whose_due_date_was_moved_still_fits_its_series(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    await dhaka_north(db, tenant, "DNC-01")
    result = await new_template(db, tenant, anchor=date(2026, 3, 12), now=NOW)
    first = (await instances_of(db, tenant, result.template.id))[0]
    async with console_unit(db, tenant.id, now=NOW) as (session, actor):
        await update_obligation(
            session, actor, first.id, InstanceChanges(due=date(2026, 3, 25)), "bank holiday"
        )

    changed = await change(
        db, tenant, result.template.id, TemplateChanges(recurrence=Recurrence.quarterly)
    )

    kept = {i.id: i for i in await instances_of(db, tenant, result.template.id)}
    assert first.id in kept
    assert (kept[first.id].series_date, kept[first.id].due_at) == (
        date(2026, 3, 12),
        date(2026, 3, 25),
    )
    assert changed.instances_removed == 12 - 4
