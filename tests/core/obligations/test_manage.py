"""One-off obligations, due-date, owner and severity changes, deletion, `/obligations mine`:
who may, the reasons, the audit rows, and the alerts a change closes.

Every service runs as the bot and the CLI run it: in the acting person's unit of work (the
actor reloaded in it), never committing on its own.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.audit.models import ActivityLog
from core.db.enums import (
    AppRole,
    NotificationStatus,
    ObligationCategory,
    ObligationStatus,
    Severity,
)
from core.db.session import Database
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.notify.models import NotificationEvent
from core.obligations import policy
from core.obligations.actions import complete_obligation
from core.obligations.clock import run_obligation_clock
from core.obligations.generation import generate_instances
from core.obligations.manage import (
    UNCHANGED,
    DeleteResult,
    InstanceChanges,
    OneOffSpec,
    UpdateResult,
    add_obligation,
    delete_obligation,
    find_obligation,
    list_my_obligations,
    update_obligation,
)
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.obligations.queries import obligation_details
from core.obligations.recurrence import Recurrence
from core.obligations.views import ObligationView
from core.storage import LocalStorage
from core.tenancy.models import Branch, Tenant, User
from core.tenancy.scope import ActorUnits
from tests.companies import new_branch, new_tenant, person
from tests.core.obligations.helpers import audit_count, instances_of, new_template, upload_proof

NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
"""14:00 in Dhaka: the tenant's today is 10 May 2026."""
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def one_off(
    branch: Branch,
    due: date = date(2026, 6, 30),
    *,
    title: str = "Generator inspection",
    owner: int | None = None,
) -> OneOffSpec:
    return OneOffSpec(
        branch_code=branch.code.lower(),
        category=ObligationCategory.inspection_renewal,
        title=f"  {title} ",
        due=due,
        severity=Severity.high,
        owner_user_id=owner,
    )


async def add(units: ActorUnits, spec: OneOffSpec, now: datetime = NOW) -> ObligationView:
    async with units(now=now) as (session, actor):
        return await add_obligation(session, actor, spec)


async def change(
    units: ActorUnits,
    instance_id: uuid.UUID,
    changes: InstanceChanges,
    reason: str | None = None,
    now: datetime = NOW,
) -> UpdateResult:
    async with units(now=now) as (session, actor):
        return await update_obligation(session, actor, instance_id, changes, reason)


async def delete(
    units: ActorUnits, instance_id: uuid.UUID, reason: str | None, now: datetime = NOW
) -> DeleteResult:
    async with units(now=now) as (session, actor):
        return await delete_obligation(session, actor, instance_id, reason)


async def audit_rows(db: Database, tenant: Tenant, action: str) -> list[ActivityLog]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(ActivityLog).where(ActivityLog.action == action).order_by(ActivityLog.id)
            )
        )


async def stored(db: Database, tenant: Tenant, instance_id: uuid.UUID) -> ObligationInstance | None:
    async with db.tenant_uow(tenant.id) as session:
        return await session.get(ObligationInstance, instance_id)


async def test_adding_a_one_off_creates_its_template_and_exactly_one_instance(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    manager = await person(db, tenant, AppRole.branch_manager, [branch], name="Jamal Uddin")

    view = await add(manager, one_off(branch, owner=manager.user_id))

    assert view.title == "Generator inspection"
    assert view.branch_code == "DHK-01"
    assert view.recurrence == "none"
    assert view.severity is Severity.high
    assert view.status is ObligationStatus.upcoming
    assert view.owner_user_id == manager.user_id
    (instance,) = await instances_of(db, tenant)
    assert instance.id == view.id
    assert instance.due_at == date(2026, 6, 30)
    assert instance.next_reminder_on == date(2026, 5, 31)  # 30 days ahead, the default cadence
    async with db.tenant_uow(tenant.id) as session:
        template = await session.get_one(ObligationTemplate, view.template_id)
        # Generation, run again for the template, finds its one instance there already.
        again = await generate_instances(
            session, tenant_id=tenant.id, today=date(2026, 5, 10), template_ids=[template.id]
        )
    assert again == 0
    assert (template.recurrence_type, template.branch_id, template.anchor_date) == (
        "none",
        branch.id,
        date(2026, 6, 30),
    )
    (entry,) = await audit_rows(db, tenant, "obligation.add")
    assert entry.user_id == manager.user_id
    assert entry.entity_id == str(view.id)
    assert entry.after_json is not None
    assert entry.after_json["due_at"] == "2026-06-30"
    assert await audit_count(db, tenant, "obligation_template.create") == 1

    async with manager(now=NOW) as (session, actor):
        details = await obligation_details(session, actor, view.id)
    assert details.owner_name == "Jamal Uddin"


async def test_adding_is_for_managers_of_the_branch_and_head_office_only(db: Database) -> None:
    tenant = await new_tenant(db)
    dhaka = await new_branch(db, tenant, "DHK-01")
    chattogram = await new_branch(db, tenant, "CTG-02")
    operator = await person(db, tenant, AppRole.operator, [dhaka])
    manager = await person(db, tenant, AppRole.branch_manager, [dhaka])
    admin = await person(db, tenant, AppRole.head_office_admin)

    with pytest.raises(PermissionDeniedError) as refused:
        await add(operator, one_off(dhaka))
    assert refused.value.code is ErrorCode.managers_only
    with pytest.raises(NotFoundError) as elsewhere:
        await add(manager, one_off(chattogram))
    assert elsewhere.value.code is ErrorCode.branch_not_in_scope
    with pytest.raises(NotFoundError, match="There is no branch NOPE-1"):
        await add(admin, one_off(Branch(code="NOPE-1")))
    with pytest.raises(ValidationError) as too_late:
        await add(admin, one_off(chattogram, date(9999, 1, 1)))
    assert too_late.value.code is ErrorCode.due_date_out_of_range
    assert await instances_of(db, tenant) == []

    made = await add(admin, one_off(chattogram))
    assert made.branch_code == "CTG-02"
    async with operator(now=NOW) as (_, actor):
        assert policy.can_view(actor, made) is False
        assert policy.can_manage_branch(actor, tenant.id, dhaka.id) is False
    async with manager(now=NOW) as (_, actor):
        assert policy.can_manage_branch(actor, tenant.id, dhaka.id)
        assert not policy.can_manage_branch(actor, tenant.id, chattogram.id)


async def test_a_due_date_change_with_a_reason_is_audited_with_before_and_after(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    manager = await person(db, tenant, AppRole.branch_manager, [branch])
    view = await add(manager, one_off(branch, date(2026, 5, 8)))
    assert view.status is ObligationStatus.overdue

    result = await change(
        manager,
        view.id,
        InstanceChanges(due=date(2026, 5, 20)),
        "  City corporation   extended the deadline ",
    )

    assert result.changed
    assert result.obligation.due_at == date(2026, 5, 20)
    assert result.obligation.status is ObligationStatus.upcoming
    instance = await stored(db, tenant, view.id)
    assert instance is not None
    assert instance.status is ObligationStatus.upcoming
    # The 14-day lead is reached already: the clock looks at it today.
    assert instance.next_reminder_on == date(2026, 5, 10)
    (entry,) = await audit_rows(db, tenant, "obligation.update")
    assert entry.user_id == manager.user_id
    assert entry.entity_id == str(view.id)
    assert entry.before_json is not None
    assert entry.after_json is not None
    assert entry.before_json["due_at"] == "2026-05-08"
    assert entry.before_json["status"] == "overdue"
    assert entry.after_json["due_at"] == "2026-05-20"
    assert entry.after_json["status"] == "upcoming"
    assert entry.after_json["reason"] == "City corporation extended the deadline"
    async with db.tenant_uow(tenant.id) as session:
        template = await session.get_one(ObligationTemplate, view.template_id)
        # The instance keeps its series date: generation cannot bring the old date back.
        assert template.anchor_date == date(2026, 5, 8)
        assert await generate_instances(session, tenant_id=tenant.id, today=date(2026, 5, 1)) == 0
    assert [i.due_at for i in await instances_of(db, tenant)] == [date(2026, 5, 20)]


async def test_a_due_date_change_without_a_reason_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    admin = await person(db, tenant, AppRole.head_office_admin)
    view = await add(admin, one_off(branch))

    for reason in (None, "", "   "):
        with pytest.raises(ValidationError, match="A reason is required") as refused:
            await change(admin, view.id, InstanceChanges(due=date(2026, 7, 15)), reason)
        assert refused.value.code is ErrorCode.reason_missing

    instance = await stored(db, tenant, view.id)
    assert instance is not None
    assert instance.due_at == date(2026, 6, 30)
    assert await audit_count(db, tenant, "obligation.update") == 0
    with pytest.raises(ValidationError) as nothing:
        await change(admin, view.id, InstanceChanges(), "no reason to")
    assert nothing.value.code is ErrorCode.obligation_unchanged

    # The same date again is no change: no reason needed, nothing audited.
    same = await change(admin, view.id, InstanceChanges(due=date(2026, 6, 30)))
    assert not same.changed
    assert await audit_count(db, tenant, "obligation.update") == 0
    # Severity alone needs no reason; the audit row keeps "none given".
    raised = await change(admin, view.id, InstanceChanges(severity=Severity.critical))
    assert raised.obligation.severity is Severity.critical
    (entry,) = await audit_rows(db, tenant, "obligation.update")
    assert entry.after_json is not None
    assert entry.after_json["reason"] is None
    assert entry.after_json["severity"] == "critical"


async def test_an_owner_must_be_active_and_work_for_the_branch(db: Database) -> None:
    tenant = await new_tenant(db)
    dhaka = await new_branch(db, tenant, "DHK-01")
    chattogram = await new_branch(db, tenant, "CTG-02")
    admin = await person(db, tenant, AppRole.head_office_admin, name="Ayesha")
    dhaka_operator = await person(db, tenant, AppRole.operator, [dhaka], name="Opu")
    ctg_operator = await person(db, tenant, AppRole.operator, [chattogram], name="Rina Das")
    leaver = await person(db, tenant, AppRole.operator, [dhaka], name="Karim")
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(User).where(User.id == leaver.user_id).values(status="disabled")
        )
    view = await add(admin, one_off(dhaka))

    with pytest.raises(ValidationError) as outside:
        await change(admin, view.id, InstanceChanges(owner=ctg_operator.user_id), "handover")
    assert outside.value.code is ErrorCode.owner_not_in_scope
    assert outside.value.message.startswith("Rina Das does not work for branch DHK-01")
    with pytest.raises(ValidationError) as disabled:
        await change(admin, view.id, InstanceChanges(owner=leaver.user_id), "handover")
    assert disabled.value.code is ErrorCode.owner_inactive
    with pytest.raises(NotFoundError) as nobody:
        await change(admin, view.id, InstanceChanges(owner=2_000_000_000), "handover")
    assert nobody.value.code is ErrorCode.user_not_found
    with pytest.raises(ValidationError) as on_add:
        await add(admin, one_off(dhaka, title="Fire drill", owner=ctg_operator.user_id))
    assert on_add.value.code is ErrorCode.owner_not_in_scope
    assert await audit_count(db, tenant, "obligation.update") == 0
    assert len(await instances_of(db, tenant)) == 1

    given = await change(admin, view.id, InstanceChanges(owner=dhaka_operator.user_id), "hers")
    assert given.obligation.owner_user_id == dhaka_operator.user_id
    head_office = await change(admin, view.id, InstanceChanges(owner=admin.user_id), "mine now")
    assert head_office.obligation.owner_user_id == admin.user_id  # admins own anywhere
    kept = await change(admin, view.id, InstanceChanges(owner=UNCHANGED, severity=Severity.low))
    assert kept.obligation.owner_user_id == admin.user_id
    cleared = await change(admin, view.id, InstanceChanges(owner=None), "unassigned")
    assert cleared.obligation.owner_user_id is None
    entries = await audit_rows(db, tenant, "obligation.update")
    assert [(e.before_json or {}).get("owner_user_id") for e in entries] == [
        None,
        dhaka_operator.user_id,
        admin.user_id,
        admin.user_id,
    ]
    assert (entries[-1].after_json or {})["owner_user_id"] is None
    assert (entries[-1].after_json or {})["reason"] == "unassigned"


async def test_operators_may_not_change_or_delete_and_closed_ones_are_history(
    db: Database,
) -> None:
    tenant = await new_tenant(db)
    dhaka = await new_branch(db, tenant, "DHK-01")
    chattogram = await new_branch(db, tenant, "CTG-02")
    operator = await person(db, tenant, AppRole.operator, [dhaka])
    manager = await person(db, tenant, AppRole.branch_manager, [dhaka])
    admin = await person(db, tenant, AppRole.head_office_admin)
    view = await add(admin, one_off(dhaka))
    elsewhere = await add(admin, one_off(chattogram))

    with pytest.raises(PermissionDeniedError) as changing:
        await change(operator, view.id, InstanceChanges(due=date(2026, 7, 1)), "later")
    assert changing.value.code is ErrorCode.managers_only
    with pytest.raises(PermissionDeniedError) as deleting:
        await delete(operator, view.id, "not ours")
    assert deleting.value.code is ErrorCode.managers_only
    with pytest.raises(NotFoundError):
        await change(manager, elsewhere.id, InstanceChanges(severity=Severity.low), "x")
    with pytest.raises(NotFoundError):
        await delete(manager, elsewhere.id, "not in my branch")
    async with operator(now=NOW) as (_, actor):
        assert not policy.can_change(actor, view)
        assert not policy.can_delete(actor, view)

    async with operator(now=NOW) as (session, actor):
        await complete_obligation(session, actor, view.id, now=NOW)
    with pytest.raises(ConflictError) as closed:
        await change(manager, view.id, InstanceChanges(due=date(2026, 7, 1)), "later")
    assert closed.value.code is ErrorCode.obligation_completed_on
    with pytest.raises(ConflictError):
        await delete(admin, view.id, "tidy up")
    assert await stored(db, tenant, view.id) is not None
    assert await audit_count(db, tenant, "obligation.update") == 0
    assert await audit_count(db, tenant, "obligation.delete") == 0


async def test_deleting_with_a_reason_resolves_its_alerts_and_audits(
    private_db: Database,
) -> None:
    db = private_db
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    manager = await person(db, tenant, AppRole.branch_manager, [branch])
    view = await add(manager, one_off(branch, date(2026, 5, 13)))
    report = await run_obligation_clock(db, now=NOW)
    assert report.due_reminders == 1  # the 3-day reminder, open (no route: a dead letter)

    with pytest.raises(ValidationError) as no_reason:
        await delete(manager, view.id, " ")
    assert no_reason.value.code is ErrorCode.reason_missing
    assert await stored(db, tenant, view.id) is not None

    result = await delete(manager, view.id, "Entered twice by mistake")

    assert result.resolved_alerts == 1
    assert result.template_deleted
    assert result.obligation.id == view.id
    assert await stored(db, tenant, view.id) is None
    async with db.tenant_uow(tenant.id) as session:
        assert await session.get(ObligationTemplate, view.template_id) is None
        (event,) = await session.scalars(select(NotificationEvent))
    assert event.status is NotificationStatus.cancelled
    assert event.resolution == "deleted"
    assert event.resolved_by_user_id == manager.user_id
    (entry,) = await audit_rows(db, tenant, "obligation.delete")
    assert entry.user_id == manager.user_id
    assert entry.entity_id == str(view.id)
    assert entry.before_json is not None
    assert entry.before_json["title"] == "Generator inspection"
    assert entry.before_json["due_at"] == "2026-05-13"
    assert entry.after_json == {
        "reason": "Entered twice by mistake",
        "resolved_alerts": 1,
        "template_deleted": True,
    }
    assert await audit_count(db, tenant, "obligation_template.delete") == 1


async def test_moving_a_due_date_closes_the_alerts_about_the_old_one(
    private_db: Database,
) -> None:
    db = private_db
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    admin = await person(db, tenant, AppRole.head_office_admin)
    view = await add(admin, one_off(branch, date(2026, 5, 1)))
    await run_obligation_clock(db, now=NOW)

    moved = await change(admin, view.id, InstanceChanges(due=date(2026, 8, 1)), "new licence")

    assert moved.resolved_alerts == 1
    async with db.tenant_uow(tenant.id) as session:
        statuses = list(await session.scalars(select(NotificationEvent.status)))
    assert statuses == [NotificationStatus.cancelled]
    instance = await stored(db, tenant, view.id)
    assert instance is not None
    assert instance.status is ObligationStatus.upcoming
    assert instance.next_reminder_on == date(2026, 7, 2)


async def test_an_obligation_with_proof_is_not_deleted(db: Database, tmp_path: Path) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    admin = await person(db, tenant, AppRole.head_office_admin)
    operator = await person(db, tenant, AppRole.operator, [branch])
    view = await add(admin, one_off(branch))
    await upload_proof(operator, view.id, "scan.pdf", PDF, LocalStorage(tmp_path), now=NOW)

    with pytest.raises(ConflictError, match="waive it instead") as refused:
        await delete(admin, view.id, "duplicate")
    assert refused.value.code is ErrorCode.obligation_has_proof
    assert await stored(db, tenant, view.id) is not None


async def test_a_shared_template_stays_when_one_instance_goes(db: Database) -> None:
    """Deleting an instance of a recurring series keeps the series' template."""
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    admin = await person(db, tenant, AppRole.head_office_admin)
    first = await add(admin, one_off(branch))
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(ObligationTemplate)
            .where(ObligationTemplate.id == first.template_id)
            .values(recurrence_type="monthly")
        )
        await generate_instances(session, tenant_id=tenant.id, today=date(2026, 5, 10))
    series = await instances_of(db, tenant, first.template_id)
    assert len(series) > 1

    result = await delete(admin, first.id, "not this month")

    assert not result.template_deleted
    async with db.tenant_uow(tenant.id) as session:
        assert await session.get(ObligationTemplate, first.template_id) is not None
        left = await session.scalar(
            select(func.count()).where(ObligationInstance.template_id == first.template_id)
        )
    assert left == len(series) - 1
    with pytest.raises(ConflictError) as taken:
        await change(admin, series[1].id, InstanceChanges(due=series[2].due_at), "merge")
    assert taken.value.code is ErrorCode.obligation_date_taken


async def test_mine_lists_only_the_open_obligations_the_person_owns(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    admin = await person(db, tenant, AppRole.head_office_admin)
    jamal = await person(db, tenant, AppRole.operator, [branch], name="Jamal Uddin")
    rina = await person(db, tenant, AppRole.operator, [branch], name="Rina")
    late = await add(admin, one_off(branch, date(2026, 5, 1), title="Late", owner=jamal.user_id))
    soon = await add(admin, one_off(branch, date(2026, 5, 20), title="Soon", owner=jamal.user_id))
    done = await add(admin, one_off(branch, date(2026, 5, 15), title="Done", owner=jamal.user_id))
    await add(admin, one_off(branch, date(2026, 5, 12), title="Rina's", owner=rina.user_id))
    await add(admin, one_off(branch, date(2026, 5, 11), title="Nobody's"))
    async with jamal(now=NOW) as (session, actor):
        await complete_obligation(session, actor, done.id, now=NOW)

    async with jamal(now=NOW) as (session, actor):
        mine = await list_my_obligations(session, actor)
        first_page = await list_my_obligations(session, actor, page=0, page_size=1)
    assert [item.id for item in mine.items] == [late.id, soon.id]  # overdue first
    assert mine.items[0].status is ObligationStatus.overdue
    assert [item.id for item in first_page.items] == [late.id]
    assert first_page.has_more
    async with admin(now=NOW) as (session, actor):
        assert (await list_my_obligations(session, actor)).items == []


async def test_a_short_id_finds_one_obligation(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "DHK-01")
    admin = await person(db, tenant, AppRole.head_office_admin)
    view = await add(admin, one_off(branch))
    async with db.tenant_uow(tenant.id) as session:
        assert await find_obligation(session, str(view.id)) == view.id
        assert await find_obligation(session, view.id.hex[:8].upper()) == view.id
        assert await find_obligation(session, str(view.id)[:13]) == view.id
        with pytest.raises(NotFoundError):
            await find_obligation(session, "abc")
        with pytest.raises(NotFoundError):
            await find_obligation(session, "00000000")


async def test_a_moved_or_deleted_occurrence_of_a_series_is_not_made_again(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "SER-1")
    admin = await person(db, tenant, AppRole.head_office_admin)
    made = await new_template(
        db, tenant, anchor=date(2026, 6, 15), recurrence=Recurrence.monthly, now=NOW
    )
    june, july, *_ = await instances_of(db, tenant, made.template.id)
    assert (june.due_at, july.due_at) == (date(2026, 6, 15), date(2026, 7, 15))

    await change(admin, june.id, InstanceChanges(due=date(2026, 6, 25)), "Authority holiday")
    await delete(admin, july.id, "Not required this year")

    async def regenerate() -> int:
        async with db.tenant_uow(tenant.id) as session:
            return await generate_instances(session, tenant_id=tenant.id, today=date(2026, 5, 10))

    assert await regenerate() == 0
    dates = [i.due_at for i in await instances_of(db, tenant, made.template.id)]
    assert date(2026, 6, 15) not in dates
    assert date(2026, 7, 15) not in dates
    assert dates[:2] == [date(2026, 6, 25), date(2026, 8, 15)]
    assert branch.id in {i.branch_id for i in await instances_of(db, tenant)}

    # Completing the moved June continues the series after June's place in it: August,
    # which exists; July stays deleted.
    async with admin(now=NOW) as (session, actor):
        done = await complete_obligation(session, actor, june.id)
    assert done.next_obligation is not None
    assert done.next_obligation.due_at == date(2026, 8, 15)
