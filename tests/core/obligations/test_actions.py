"""Complete, waive, reopen and list: roles, scope, proof, audit — ids never trusted."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from core.audit.models import ActivityLog
from core.db.enums import AppRole, ObligationStatus
from core.db.session import Database
from core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from core.obligations.documents import attach_document
from core.obligations.recurrence import Recurrence
from core.obligations.service import (
    complete_obligation,
    list_open_obligations,
    obligation_details,
    reopen_obligation,
    waive_obligation,
)
from core.obligations.views import Window
from core.storage import LocalStorage
from core.tenancy.models import User
from tests.core.obligations.helpers import (
    audit_count,
    instances_of,
    new_branch,
    new_template,
    new_tenant,
    new_user,
)

NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


async def test_complete_keeps_who_and_when_and_audits(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await new_user(db, tenant, AppRole.operator, [branch])
    made = await new_template(db, tenant, anchor=date(2026, 5, 12), branch=branch, now=NOW)
    first = (await instances_of(db, tenant, made.template.id))[0]

    result = await complete_obligation(db, operator, str(first.id), now=NOW)
    assert result.obligation.status is ObligationStatus.completed
    assert result.obligation.completed_by_user_id == operator.id
    assert result.obligation.completed_at == NOW
    assert result.next_obligation is not None
    assert result.next_obligation.due_at == date(2026, 6, 12)
    async with db.tenant_uow(tenant.id) as session:
        entry = await session.scalar(
            select(ActivityLog).where(
                ActivityLog.action == "obligation.complete", ActivityLog.entity_id == str(first.id)
            )
        )
    assert entry is not None
    assert entry.user_id == operator.id
    assert entry.before_json is not None
    assert entry.before_json["status"] == "upcoming"
    assert entry.after_json is not None
    assert entry.after_json["status"] == "completed"

    with pytest.raises(ConflictError, match="already completed on 2026-05-10"):
        await complete_obligation(db, operator, first.id, now=NOW)


async def test_proof_required_refuses_completion_until_uploaded(
    db: Database, tmp_path: object
) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await new_user(db, tenant, AppRole.operator, [branch])
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
    details = await obligation_details(db, operator, instance.id, now=NOW)
    assert not details.can_complete
    assert not details.can_waive

    with pytest.raises(ValidationError, match="needs proof before it can be completed"):
        await complete_obligation(db, operator, instance.id, now=NOW)
    assert (await instances_of(db, tenant, made.template.id))[0].status is ObligationStatus.upcoming
    assert await audit_count(db, tenant, "obligation.complete") == 0

    storage = LocalStorage(tmp_path / "docs")  # type: ignore[operator]
    await attach_document(db, operator, instance.id, "licence.pdf", PDF, storage=storage)
    assert (await obligation_details(db, operator, instance.id, now=NOW)).can_complete
    done = await complete_obligation(db, operator, instance.id, now=NOW)
    assert done.obligation.status is ObligationStatus.completed
    assert done.next_obligation is None  # a one-off ends here


async def test_waive_needs_a_reason_and_a_managing_role(db: Database) -> None:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await new_user(db, tenant, AppRole.operator, [branch])
    manager = await new_user(db, tenant, AppRole.branch_manager, [branch])
    made = await new_template(db, tenant, anchor=date(2026, 5, 31), branch=branch, now=NOW)
    instance = (await instances_of(db, tenant, made.template.id))[0]

    with pytest.raises(PermissionDeniedError, match="Only a branch manager or a head-office admin"):
        await waive_obligation(db, operator, instance.id, "not needed", now=NOW)
    with pytest.raises(ValidationError, match="A reason is required"):
        await waive_obligation(db, manager, instance.id, "   ", now=NOW)
    assert await audit_count(db, tenant, "obligation.waive") == 0

    waived = await waive_obligation(db, manager, instance.id, " Branch  closed ", now=NOW)
    assert waived.obligation.status is ObligationStatus.waived
    assert waived.obligation.waive_reason == "Branch closed"
    assert waived.obligation.waived_by_user_id == manager.id
    assert waived.next_obligation is not None
    assert waived.next_obligation.due_at == date(2026, 6, 30)
    assert await audit_count(db, tenant, "obligation.waive") == 1

    with pytest.raises(PermissionDeniedError):
        await reopen_obligation(db, operator, instance.id, now=NOW)
    reopened = await reopen_obligation(db, manager, instance.id, now=NOW)
    assert reopened.status is ObligationStatus.upcoming
    assert reopened.waive_reason is None
    assert await audit_count(db, tenant, "obligation.reopen") == 1
    with pytest.raises(ConflictError, match="open already"):
        await reopen_obligation(db, manager, instance.id, now=NOW)


async def test_ids_outside_the_users_scope_are_not_found(db: Database) -> None:
    tenant = await new_tenant(db)
    mine = await new_branch(db, tenant, "MINE")
    theirs = await new_branch(db, tenant, "THEIRS")
    manager = await new_user(db, tenant, AppRole.branch_manager, [mine])
    admin = await new_user(db, tenant, AppRole.head_office_admin)
    made = await new_template(db, tenant, anchor=date(2026, 5, 15), now=NOW)
    theirs_instance = next(
        i for i in await instances_of(db, tenant, made.template.id) if i.branch_id == theirs.id
    )
    other_tenant = await new_tenant(db)
    other_branch = await new_branch(db, other_tenant, "X")
    stranger_admin = await new_user(db, other_tenant, AppRole.head_office_admin, [other_branch])

    for attempt in (
        complete_obligation(db, manager, theirs_instance.id, now=NOW),
        waive_obligation(db, manager, theirs_instance.id, "no", now=NOW),
        obligation_details(db, manager, theirs_instance.id, now=NOW),
        complete_obligation(db, stranger_admin, theirs_instance.id, now=NOW),
        complete_obligation(db, manager, "not-a-uuid", now=NOW),
        complete_obligation(db, manager, uuid.uuid4(), now=NOW),
    ):
        with pytest.raises(NotFoundError, match="No such obligation in your branches"):
            await attempt

    # A user object claiming another tenant (forged) is reloaded and refused.
    forged = User(id=manager.id, tenant_id=other_tenant.id, role=AppRole.head_office_admin)
    with pytest.raises(PermissionDeniedError):
        await complete_obligation(db, forged, theirs_instance.id, now=NOW)

    async with db.tenant_uow(tenant.id) as session:
        stored = await session.get(User, manager.id)
        assert stored is not None
        stored.status = "disabled"
    mine_instance = next(
        i for i in await instances_of(db, tenant, made.template.id) if i.branch_id == mine.id
    )
    with pytest.raises(PermissionDeniedError, match="not active"):
        await complete_obligation(db, manager, mine_instance.id, now=NOW)
    assert (
        await complete_obligation(db, admin, theirs_instance.id, now=NOW)
    ).obligation.status is ObligationStatus.completed


async def test_listing_is_scoped_filtered_overdue_first_and_paged(db: Database) -> None:
    tenant = await new_tenant(db, "UTC")
    north = await new_branch(db, tenant, "NORTH")
    south = await new_branch(db, tenant, "SOUTH")
    operator = await new_user(db, tenant, AppRole.operator, [north])
    admin = await new_user(db, tenant, AppRole.head_office_admin)
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

    page = await list_open_obligations(db, operator, now=now)
    assert [(i.title, i.status.value) for i in page.items] == [
        ("Late", "overdue"),
        ("Today", "due_today"),
        ("This week", "upcoming"),
        ("Later", "upcoming"),
    ]
    assert {i.branch_code for i in page.items} == {"NORTH"}
    assert not page.has_more

    everything = await list_open_obligations(db, admin, now=now, page_size=3)
    assert [i.title for i in everything.items] == ["Late", "Late", "Today"]
    assert everything.has_more
    second = await list_open_obligations(db, admin, now=now, page=1, page_size=3)
    assert [i.title for i in second.items] == ["Today", "This week", "This week"]

    async def titles(window: Window) -> list[str]:
        return [
            i.title
            for i in (await list_open_obligations(db, operator, window=window, now=now)).items
        ]

    assert await titles(Window.overdue) == ["Late"]
    assert await titles(Window.today) == ["Today"]
    assert await titles(Window.week) == ["Late", "Today", "This week"]

    with pytest.raises(NotFoundError):
        await list_open_obligations(db, operator, branch_id=south.id, now=now)
    late = (await list_open_obligations(db, operator, now=now)).items[0]
    await complete_obligation(db, operator, late.id, now=now)
    assert await titles(Window.overdue) == []
