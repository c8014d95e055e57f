"""Complete, waive, reopen and list: roles, scope, proof, audit — ids never trusted.

Every action runs as the bot runs it: in the acting person's unit of work, the actor
reloaded in it (`ActorUnits`), the service never committing on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import ActivityLog
from core.db.enums import AppRole, ObligationStatus
from core.db.session import Database
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.obligations import policy
from core.obligations.actions import (
    ActionResult,
    complete_obligation,
    reopen_obligation,
    waivable,
    waive_obligation,
)
from core.obligations.parsing import parse_instance_id
from core.obligations.queries import list_open_obligations, obligation_details
from core.obligations.recurrence import Recurrence
from core.obligations.views import ObligationPage, ObligationView, Window
from core.storage import LocalStorage
from core.tenancy.models import User
from core.tenancy.scope import Actor, ActorUnits
from tests.companies import new_branch, new_tenant, person
from tests.core.obligations.helpers import audit_count, instances_of, new_template, upload_proof

NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


async def complete(units: ActorUnits, instance_id: uuid.UUID, now: datetime = NOW) -> ActionResult:
    async with units(now=now) as (session, actor):
        return await complete_obligation(session, actor, instance_id, now=now)


async def waive(
    units: ActorUnits, instance_id: uuid.UUID, reason: str, now: datetime = NOW
) -> ActionResult:
    async with units(now=now) as (session, actor):
        return await waive_obligation(session, actor, instance_id, reason, now=now)


async def reopen(units: ActorUnits, instance_id: uuid.UUID) -> ObligationView:
    async with units(now=NOW) as (session, actor):
        return await reopen_obligation(session, actor, instance_id)


async def listing(
    units: ActorUnits,
    now: datetime,
    *,
    window: Window = Window.all,
    branch_id: uuid.UUID | None = None,
    page: int = 0,
    page_size: int = 10,
) -> ObligationPage:
    async with units(now=now) as (session, actor):
        return await list_open_obligations(
            session, actor, window=window, branch_id=branch_id, page=page, page_size=page_size
        )


async def test_complete_keeps_who_and_when_and_audits(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await person(db, tenant, AppRole.operator, [branch])
    made = await new_template(db, tenant, anchor=date(2026, 5, 12), branch=branch, now=NOW)
    first = (await instances_of(db, tenant, made.template.id))[0]

    result = await complete(operator, first.id)
    assert result.obligation.status is ObligationStatus.completed
    assert result.obligation.completed_by_user_id == operator.user_id
    assert result.obligation.completed_at == NOW
    assert result.resolved_alerts == 0
    assert result.next_obligation is not None
    assert result.next_obligation.due_at == date(2026, 6, 12)
    async with db.tenant_uow(tenant.id) as session:
        entry = await session.scalar(
            select(ActivityLog).where(
                ActivityLog.action == "obligation.complete", ActivityLog.entity_id == str(first.id)
            )
        )
    assert entry is not None
    assert entry.user_id == operator.user_id
    assert entry.before_json is not None
    assert entry.before_json["status"] == "upcoming"
    assert entry.after_json is not None
    assert entry.after_json["status"] == "completed"
    assert entry.after_json["next_instance_id"] == str(result.next_obligation.id)

    with pytest.raises(ConflictError, match="already completed on 10 May 2026") as again:
        await complete(operator, first.id)
    assert again.value.code is ErrorCode.obligation_completed_on
    assert again.value.params == {"date": date(2026, 5, 10)}
    assert await audit_count(db, tenant, "obligation.complete") == 1


async def test_nothing_is_written_when_the_unit_of_work_fails(db: Database) -> None:
    """The services never commit: the edge's unit of work decides, and a failure after
    the action leaves the obligation as it was, without an audit entry."""
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await person(db, tenant, AppRole.operator, [branch])
    made = await new_template(
        db, tenant, anchor=date(2026, 5, 12), recurrence=Recurrence.none, branch=branch, now=NOW
    )
    (instance,) = await instances_of(db, tenant, made.template.id)

    async def complete_then_fail() -> None:
        async with operator(now=NOW) as (session, actor):
            done = await complete_obligation(session, actor, instance.id, now=NOW)
            assert done.obligation.status is ObligationStatus.completed
            raise RuntimeError("the answer could not be sent")

    with pytest.raises(RuntimeError, match="the answer could not be sent"):
        await complete_then_fail()
    assert (await instances_of(db, tenant, made.template.id))[0].status is ObligationStatus.upcoming
    assert await audit_count(db, tenant, "obligation.complete") == 0


async def test_proof_required_refuses_completion_until_uploaded(
    db: Database, tmp_path: Path
) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await person(db, tenant, AppRole.operator, [branch])
    made = await new_template(
        db,
        tenant,
        anchor=date(2026, 5, 20),
        recurrence=Recurrence.none,
        branch=branch,
        proof_required=True,
        now=NOW,
    )
    (instance,) = await instances_of(db, tenant, made.template.id)
    async with operator(now=NOW) as (session, actor):
        details = await obligation_details(session, actor, instance.id)
    assert details.obligation.proof_required
    assert details.documents == []
    # The policy offers completion (the proof is asked for then), never waiving to operators.
    assert policy.can_complete(actor, details.obligation)
    assert policy.can_upload_proof(actor, details.obligation)
    assert not policy.can_waive(actor, details.obligation)

    with pytest.raises(ValidationError, match="needs proof before it can be completed") as refused:
        await complete(operator, instance.id)
    assert refused.value.code is ErrorCode.obligation_needs_proof
    assert refused.value.message == (
        "“VAT return” needs proof before it can be completed: upload a document or photo first."
    )
    assert (await instances_of(db, tenant, made.template.id))[0].status is ObligationStatus.upcoming
    assert await audit_count(db, tenant, "obligation.complete") == 0

    storage = LocalStorage(tmp_path / "docs")
    await upload_proof(operator, instance.id, "licence.pdf", PDF, storage, now=NOW)
    async with operator(now=NOW) as (session, actor):
        details = await obligation_details(session, actor, instance.id)
    assert [document.filename for document in details.documents] == ["licence.pdf"]
    done = await complete(operator, instance.id)
    assert done.obligation.status is ObligationStatus.completed
    assert done.next_obligation is None  # a one-off ends here


async def test_waive_needs_a_reason_and_a_managing_role(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await person(db, tenant, AppRole.operator, [branch])
    manager = await person(db, tenant, AppRole.branch_manager, [branch])
    made = await new_template(db, tenant, anchor=date(2026, 5, 31), branch=branch, now=NOW)
    instance = (await instances_of(db, tenant, made.template.id))[0]

    with pytest.raises(PermissionDeniedError, match="Only branch managers and head office") as no:
        await waive(operator, instance.id, "not needed")
    assert no.value.code is ErrorCode.managers_only
    async with operator(now=NOW) as (session, actor):
        with pytest.raises(PermissionDeniedError):
            await waivable(session, actor, instance.id)
    async with manager(now=NOW) as (session, actor):
        assert (await waivable(session, actor, instance.id)).id == instance.id
    with pytest.raises(ValidationError, match="A reason is required") as empty:
        await waive(manager, instance.id, "   ")
    assert empty.value.code is ErrorCode.waive_reason_missing
    with pytest.raises(ValidationError, match="longer than 1,000 characters"):
        await waive(manager, instance.id, "x" * 1001)
    assert await audit_count(db, tenant, "obligation.waive") == 0

    waived = await waive(manager, instance.id, " Branch  closed ")
    assert waived.obligation.status is ObligationStatus.waived
    assert waived.obligation.waive_reason == "Branch closed"
    assert waived.obligation.waived_by_user_id == manager.user_id
    assert waived.next_obligation is not None
    assert waived.next_obligation.due_at == date(2026, 6, 30)
    assert await audit_count(db, tenant, "obligation.waive") == 1
    with pytest.raises(ConflictError, match="This obligation is already waived") as closed:
        await waive(manager, instance.id, "twice")
    assert closed.value.code is ErrorCode.obligation_closed
    assert closed.value.params == {"status": ObligationStatus.waived}

    with pytest.raises(PermissionDeniedError):
        await reopen(operator, instance.id)
    reopened = await reopen(manager, instance.id)
    assert reopened.status is ObligationStatus.upcoming
    assert reopened.waive_reason is None
    assert reopened.waived_by_user_id is None
    assert await audit_count(db, tenant, "obligation.reopen") == 1
    with pytest.raises(ConflictError, match="open already") as open_already:
        await reopen(manager, instance.id)
    assert open_already.value.code is ErrorCode.obligation_open_already


Action = Callable[[AsyncSession, Actor], Awaitable[object]]


async def test_ids_outside_the_users_scope_are_not_found(db: Database) -> None:
    tenant = await new_tenant(db)
    mine = await new_branch(db, tenant, "MINE")
    theirs = await new_branch(db, tenant, "THEIRS")
    manager = await person(db, tenant, AppRole.branch_manager, [mine])
    admin = await person(db, tenant, AppRole.head_office_admin)
    made = await new_template(db, tenant, anchor=date(2026, 5, 15), now=NOW)
    theirs_instance = next(
        i for i in await instances_of(db, tenant, made.template.id) if i.branch_id == theirs.id
    )
    other_tenant = await new_tenant(db)
    other_branch = await new_branch(db, other_tenant, "X")
    stranger_admin = await person(db, other_tenant, AppRole.head_office_admin, [other_branch])

    target = theirs_instance.id
    attempts: list[tuple[ActorUnits, Action]] = [
        (manager, lambda s, a: complete_obligation(s, a, target, now=NOW)),
        (manager, lambda s, a: waive_obligation(s, a, target, "no", now=NOW)),
        (manager, lambda s, a: waivable(s, a, target)),
        (manager, lambda s, a: reopen_obligation(s, a, target)),
        (manager, lambda s, a: obligation_details(s, a, target)),
        (stranger_admin, lambda s, a: complete_obligation(s, a, target, now=NOW)),
        (stranger_admin, lambda s, a: obligation_details(s, a, target)),
        (manager, lambda s, a: complete_obligation(s, a, uuid.uuid4(), now=NOW)),
    ]
    for units, attempt in attempts:
        async with units(now=NOW) as (session, actor):
            with pytest.raises(NotFoundError, match="No such obligation in your branches") as no:
                await attempt(session, actor)
        assert no.value.code is ErrorCode.obligation_not_found
    with pytest.raises(NotFoundError, match="No such obligation in your branches"):
        parse_instance_id("not-a-uuid")
    assert parse_instance_id(str(target)) == target

    # An id claiming another tenant (forged) is reloaded there, not found, and refused.
    forged = ActorUnits(db, other_tenant.id, manager.user_id)
    with pytest.raises(PermissionDeniedError, match="not active"):
        async with forged(now=NOW):
            pass

    async with db.tenant_uow(tenant.id) as session:
        stored = await session.get(User, manager.user_id)
        assert stored is not None
        stored.status = "disabled"
    with pytest.raises(PermissionDeniedError, match="not active") as inactive:
        async with manager(now=NOW):
            pass
    assert inactive.value.code is ErrorCode.account_inactive
    assert (await complete(admin, target)).obligation.status is ObligationStatus.completed


async def test_listing_is_scoped_filtered_overdue_first_and_paged(db: Database) -> None:
    tenant = await new_tenant(db, "UTC")
    north = await new_branch(db, tenant, "NORTH")
    south = await new_branch(db, tenant, "SOUTH")
    operator = await person(db, tenant, AppRole.operator, [north])
    admin = await person(db, tenant, AppRole.head_office_admin)
    created = datetime(2026, 4, 1, tzinfo=UTC)
    for day, title in ((20, "Late"), (10, "Today"), (13, "This week"), (30, "Later")):
        await new_template(
            db,
            tenant,
            anchor=date(2026, 4 if title == "Late" else 5, day),
            recurrence=Recurrence.none,
            title=title,
            now=created,
        )
    now = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)

    page = await listing(operator, now)
    assert [(i.title, i.status.value) for i in page.items] == [
        ("Late", "overdue"),
        ("Today", "due_today"),
        ("This week", "upcoming"),
        ("Later", "upcoming"),
    ]
    assert {i.branch_code for i in page.items} == {"NORTH"}
    assert not page.has_more

    everything = await listing(admin, now, page_size=3)
    assert [i.title for i in everything.items] == ["Late", "Late", "Today"]
    assert everything.has_more
    second = await listing(admin, now, page=1, page_size=3)
    assert [i.title for i in second.items] == ["Today", "This week", "This week"]
    south_only = await listing(admin, now, branch_id=south.id)
    assert {i.branch_code for i in south_only.items} == {"SOUTH"}

    async def titles(window: Window) -> list[str]:
        return [i.title for i in (await listing(operator, now, window=window)).items]

    assert await titles(Window.overdue) == ["Late"]
    assert await titles(Window.today) == ["Today"]
    assert await titles(Window.week) == ["Late", "Today", "This week"]

    with pytest.raises(NotFoundError, match="No such branch in your scope"):
        await listing(operator, now, branch_id=south.id)
    with pytest.raises(ValidationError, match="There is no such page"):
        await listing(operator, now, page=-1)
    with pytest.raises(ValidationError, match="between 1 and 50"):
        await listing(operator, now, page_size=51)
    late = (await listing(operator, now)).items[0]
    await complete(operator, late.id, now)
    assert await titles(Window.overdue) == []
