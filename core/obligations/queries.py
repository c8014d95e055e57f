"""Reading obligations: the chat's page of open items, one item with its proof, the CLI list.

The page runs on every `/obligations` and page button, so it is the lean path: Core
statements built once, executed on the unit of work's connection (no ORM bookkeeping).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.clock import utc_now
from core.db.driver import DriverReads, rows_of
from core.db.enums import OPEN_OBLIGATION, ObligationStatus
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, ValidationError
from core.obligations import policy
from core.obligations.models import ObligationDocument, ObligationInstance
from core.obligations.schedule import tenant_today
from core.obligations.views import (
    ObligationDetails,
    ObligationPage,
    ObligationView,
    Window,
    document_view,
    to_view,
    view_select,
)
from core.tenancy.models import Branch, Tenant, User
from core.tenancy.names import names_of, user_name
from core.tenancy.people import find_person
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

MAX_PAGE_SIZE = 50
MAX_PAGE = 10_000
"""Pages beyond this are refused: a forged page number must not become an absurd OFFSET."""


def _page_bounds(page: int, page_size: int) -> tuple[int, int]:
    if not 0 <= page <= MAX_PAGE:
        raise ValidationError(ErrorCode.page_out_of_range)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(ErrorCode.page_size_out_of_range, limit=MAX_PAGE_SIZE)
    return page * page_size, page_size


async def list_open_obligations(
    session: AsyncSession | AsyncConnection | DriverReads,
    actor: Actor,
    *,
    window: Window = Window.all,
    branch_id: uuid.UUID | None = None,
    page: int = 0,
    page_size: int = 10,
) -> ObligationPage:
    """Open obligations in the actor's scope, overdue first then by due date, one page.

    `Window.mine`: only those the acting person owns (none for the command line, which
    is nobody).
    """
    offset, size = _page_bounds(page, page_size)
    if branch_id is not None and not actor.covers(branch_id):
        raise NotFoundError(ErrorCode.branch_not_in_scope)
    scope: Sequence[uuid.UUID] | None = (
        [branch_id]
        if branch_id is not None
        else (sorted(actor.branch_ids) if actor.branch_ids is not None else None)
    )
    if (scope is not None and not scope) or (window is Window.mine and actor.user_id is None):
        return ObligationPage(items=[], page=page, page_size=size, has_more=False)
    statement, values = open_obligations_page(
        actor.tenant_id, actor.today, window, scope, offset, size + 1, owner_user_id=actor.user_id
    )
    rows = await rows_of(session, statement, values)
    items = [to_view(row, actor.today) for row in rows]
    return ObligationPage(items=items[:size], page=page, page_size=size, has_more=len(items) > size)


@functools.cache
def _page_statement(window: Window, scoped: bool) -> Any:
    """The dashboard query for one window, with or without a branch list, built once.

    Order is due date then id, which is overdue first: an open item is overdue exactly
    when its date is before the tenant's today. One ordered scan of a partial index of
    open instances, (tenant_id, due_at) tenant-wide or (tenant_id, branch_id, due_at) for
    some branches, stops at the page; only the page's rows are joined to their template
    and branch.

    The open statuses, the limit and the offset are written into the SQL rather than sent
    as parameters: only then can PostgreSQL's generic plan for the prepared statement
    prove the partial index's predicate and stop the scan at the page, so the plan is
    made once per connection instead of at every page (0.2 ms instead of 1.2 ms a page).
    """
    conditions: list[Any] = [
        ObligationInstance.tenant_id == bindparam("tenant_id"),
        ObligationInstance.status.in_(
            bindparam("open", list(OPEN_OBLIGATION), expanding=True, literal_execute=True)
        ),
    ]
    if scoped:
        conditions.append(ObligationInstance.branch_id.in_(bindparam("branch_ids", expanding=True)))
    if window is Window.overdue:
        conditions.append(ObligationInstance.due_at < bindparam("today"))
    elif window is Window.today:
        conditions.append(ObligationInstance.due_at == bindparam("today"))
    elif window is Window.week:
        conditions.append(ObligationInstance.due_at <= bindparam("week_end"))
    elif window is Window.mine:
        conditions.append(ObligationInstance.owner_user_id == bindparam("owner_user_id"))
    page = (
        select(ObligationInstance.id, ObligationInstance.due_at)
        .where(*conditions)
        .order_by(ObligationInstance.due_at, ObligationInstance.id)
        .offset(bindparam("offset", type_=Integer, literal_execute=True))
        .limit(bindparam("limit", type_=Integer, literal_execute=True))
        .subquery("page")
    )
    return (
        view_select()
        .join(page, page.c.id == ObligationInstance.id)
        .order_by(page.c.due_at, page.c.id)
    )


def open_obligations_page(
    tenant_id: uuid.UUID,
    today: date,
    window: Window,
    branch_ids: Sequence[uuid.UUID] | None,
    offset: int,
    limit: int,
    *,
    owner_user_id: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The dashboard query and its values (the benchmarks print its plan and run its SQL).

    `owner_user_id`: whose obligations `Window.mine` lists.
    """
    values: dict[str, Any] = {"tenant_id": tenant_id, "offset": offset, "limit": limit}
    if branch_ids is not None:
        values["branch_ids"] = list(branch_ids)
    if window in (Window.overdue, Window.today):
        values["today"] = today
    elif window is Window.week:
        values["week_end"] = today + timedelta(days=7)
    elif window is Window.mine:
        values["owner_user_id"] = owner_user_id
    return _page_statement(window, branch_ids is not None), values


async def obligation_details(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID
) -> ObligationDetails:
    """One obligation in the actor's scope with its proof files; anything else is not found."""
    row = (await session.execute(view_select().where(ObligationInstance.id == instance_id))).first()
    view = to_view(row._mapping, actor.today) if row is not None else None
    if view is None or not policy.can_view(actor, view):
        raise NotFoundError(ErrorCode.obligation_not_found)
    documents = await session.scalars(
        select(ObligationDocument)
        .where(ObligationDocument.obligation_instance_id == instance_id)
        .order_by(ObligationDocument.created_at)
    )
    owner = await session.get(User, view.owner_user_id) if view.owner_user_id else None
    return ObligationDetails(
        obligation=view,
        documents=[document_view(d) for d in documents],
        owner_name=user_name(owner) if owner is not None else None,
    )


@dataclass(frozen=True)
class AdminListing:
    items: list[ObligationView]
    total: int
    owner_names: dict[int, str] = field(default_factory=dict)
    """How each owner of a listed item is named (`names.user_name`)."""


async def list_obligations_for_admin(
    db: Database,
    tenant: Tenant,
    *,
    branch_code: str | None = None,
    status: ObligationStatus | None = None,
    owner: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> AdminListing:
    """The CLI's listing: any status, one branch or all, overdue first then by due date.

    `owner`: only the obligations of this user (an id, email or @username).
    """
    if limit < 1:
        raise ValidationError(ErrorCode.limit_too_small)
    async with db.tenant_uow(tenant.id) as session:
        today = await tenant_today(session, tenant.id, utc_now(now))
        conditions: list[Any] = [ObligationInstance.tenant_id == tenant.id]
        if branch_code is not None:
            code = normalise_branch_code(branch_code)
            branch = await session.scalar(select(Branch).where(Branch.code == code))
            if branch is None:
                raise NotFoundError(ErrorCode.branch_not_found, code=code)
            conditions.append(ObligationInstance.branch_id == branch.id)
        if status is not None:
            conditions.append(ObligationInstance.status == status)
        if owner is not None:
            owner_id = await find_person(session, owner)
            conditions.append(ObligationInstance.owner_user_id == owner_id)
        total = await session.scalar(select(func.count()).where(*conditions)) or 0
        open_first = ObligationInstance.status.in_(OPEN_OBLIGATION).desc()
        rows = await session.execute(
            view_select()
            .where(*conditions)
            .order_by(open_first, ObligationInstance.due_at, ObligationInstance.id)
            .limit(limit)
        )
        items = [to_view(row._mapping, today) for row in rows]
        names = await names_of(session, (i.owner_user_id for i in items if i.owner_user_id))
    return AdminListing(items=items, total=int(total), owner_names=names)
