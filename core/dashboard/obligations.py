"""The dashboard's obligations: a filtered, paged list and a month calendar (SPEC §9).

Both apply the actor's scope in SQL (their branches; head office every branch) and the
same status rule as the bot: an open instance past its date is overdue even before the
clock has marked it (`views.to_view`). Open-only filters read the partial indexes of open
instances (tenant, due date) and (tenant, branch, due date); the order is due date then
id, so the first page stops early however many rows match.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import OPEN_OBLIGATION, ObligationCategory, ObligationStatus
from core.errors import ErrorCode, ValidationError
from core.i18n import N_
from core.obligations.models import ObligationInstance
from core.obligations.views import ObligationView, to_view, view_select
from core.tenancy.models import Branch, User, UserBranch
from core.tenancy.names import names_of, user_name
from core.tenancy.scope import Actor

PAGE_SIZE = 50
MAX_PAGE = 2_000
WINDOWS = ("all", "overdue", "today", "week", "month")
"""`week`: due within 7 days; `month`: within 30 days (both from today, open only)."""
STATUS_CHOICES = ("open", "all", *(status.value for status in ObligationStatus))
PER_DAY = 3
"""Obligations named in a calendar day; the rest are counted."""


@dataclass(frozen=True)
class ObligationFilters:
    branch: str | None = None
    category: str | None = None
    status: str = "open"
    owner: str | None = None
    """`mine`, or a user id."""
    window: str = "all"
    page: int = 0


@dataclass(frozen=True)
class BranchOption:
    id: uuid.UUID
    code: str
    name: str


@dataclass(frozen=True)
class ObligationList:
    items: list[ObligationView]
    page: int
    has_more: bool
    branches: list[BranchOption]
    owners: dict[int, str] = field(default_factory=dict)
    """The name of each owner on the page."""
    people: list[tuple[int, str]] = field(default_factory=list)
    """The people the owner filter offers (the actor's scope)."""


async def branch_options(session: AsyncSession, actor: Actor) -> list[BranchOption]:
    """The branches the actor may filter by, by code."""
    statement = select(Branch.id, Branch.code, Branch.name).order_by(Branch.code)
    if actor.branch_ids is not None:
        statement = statement.where(Branch.id.in_(sorted(actor.branch_ids)))
    return [BranchOption(*row) for row in await session.execute(statement)]


def _unknown(what: str, value: str, choices: Sequence[str]) -> ValidationError:
    return ValidationError(
        ErrorCode.value_unknown, what=what, value=value[:40], choices=", ".join(choices)
    )


def _parse(filters: ObligationFilters, branches: Sequence[BranchOption], actor: Actor) -> Any:
    if filters.window not in WINDOWS:
        raise _unknown(N_("window"), filters.window, WINDOWS)
    if filters.status not in STATUS_CHOICES:
        raise _unknown(N_("status"), filters.status, STATUS_CHOICES)
    if not 0 <= filters.page <= MAX_PAGE:
        raise ValidationError(ErrorCode.page_out_of_range)
    category: ObligationCategory | None = None
    if filters.category:
        try:
            category = ObligationCategory(filters.category)
        except ValueError as exc:
            choices = [c.value for c in ObligationCategory]
            raise _unknown(N_("category"), filters.category, choices) from exc
    branch_id: uuid.UUID | None = None
    if filters.branch:
        found = [b.id for b in branches if b.code == filters.branch.strip().upper()]
        if not found:
            raise ValidationError(ErrorCode.branch_not_in_scope)
        branch_id = found[0]
    owner: int | None = None
    if filters.owner == "mine":
        owner = actor.user_id if actor.user_id is not None else -1
    elif filters.owner:
        if not filters.owner.isdigit() or len(filters.owner) > 9:
            raise ValidationError(ErrorCode.person_not_found)
        owner = int(filters.owner)
    return category, branch_id, owner


def _conditions(
    actor: Actor,
    filters: ObligationFilters,
    category: ObligationCategory | None,
    branch_id: uuid.UUID | None,
    owner: int | None,
) -> list[Any]:
    instance = ObligationInstance
    today = actor.today
    conditions: list[Any] = [instance.tenant_id == actor.tenant_id]
    if branch_id is not None:
        conditions.append(instance.branch_id == branch_id)
    elif actor.branch_ids is not None:
        conditions.append(instance.branch_id.in_(sorted(actor.branch_ids) or [uuid.UUID(int=0)]))
    status = filters.status
    open_only = status == "open" or filters.window != "all"
    if status in ("completed", "waived"):
        conditions.append(instance.status == ObligationStatus(status))
    elif open_only or status in ("upcoming", "due_today", "overdue"):
        conditions.append(instance.status.in_(list(OPEN_OBLIGATION)))
    # A status of the open family is judged by date, as the bot shows it.
    if status == "overdue":
        conditions.append(instance.due_at < today)
    elif status == "due_today":
        conditions.append(instance.due_at == today)
    elif status == "upcoming":
        conditions.append(instance.due_at > today)
    if filters.window == "overdue":
        conditions.append(instance.due_at < today)
    elif filters.window == "today":
        conditions.append(instance.due_at == today)
    elif filters.window == "week":
        conditions.append(instance.due_at <= today + timedelta(days=7))
    elif filters.window == "month":
        conditions.append(instance.due_at <= today + timedelta(days=30))
    if category is not None:
        conditions.append(instance.category == category)
    if owner is not None:
        conditions.append(instance.owner_user_id == owner)
    return conditions


async def _people(session: AsyncSession, actor: Actor) -> list[tuple[int, str]]:
    """Who may own what the actor sees: everyone for head office, else their branches' people."""
    statement = select(User).where(User.status == "active").order_by(User.full_name, User.id)
    if actor.branch_ids is not None:
        statement = statement.where(
            User.id.in_(
                select(UserBranch.user_id).where(
                    UserBranch.branch_id.in_(sorted(actor.branch_ids) or [uuid.UUID(int=0)])
                )
            )
        )
    return [(user.id, user_name(user)) for user in await session.scalars(statement.limit(500))]


async def browse_obligations(
    session: AsyncSession, actor: Actor, filters: ObligationFilters
) -> ObligationList:
    """One page (50) of the obligations in scope that match, overdue first then by date."""
    branches = await branch_options(session, actor)
    category, branch_id, owner = _parse(filters, branches, actor)
    conditions = _conditions(actor, filters, category, branch_id, owner)
    rows = await session.execute(
        view_select()
        .where(*conditions)
        .order_by(ObligationInstance.due_at, ObligationInstance.id)
        .offset(filters.page * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    items = [to_view(row._mapping, actor.today) for row in rows]
    page_items = items[:PAGE_SIZE]
    owners = await names_of(session, (i.owner_user_id for i in page_items if i.owner_user_id))
    return ObligationList(
        items=page_items,
        page=filters.page,
        has_more=len(items) > PAGE_SIZE,
        branches=branches,
        owners=owners,
        people=await _people(session, actor),
    )


@dataclass(frozen=True)
class CalendarDay:
    day: date
    in_month: bool
    items: list[ObligationView]
    more: int


@dataclass(frozen=True)
class MonthCalendar:
    month: date
    """The first day of the month shown."""
    weeks: list[list[CalendarDay]]
    previous: date
    following: date


def parse_month(value: str | None, today: date) -> date:
    """`2026-12` → 1 December 2026; nothing → this month."""
    if not value:
        return today.replace(day=1)
    try:
        year, month = (int(part) for part in value.split("-", 1))
        return date(year, month, 1)
    except ValueError as exc:
        raise _unknown(N_("month"), value, ["YYYY-MM"]) from exc


async def month_calendar(
    session: AsyncSession, actor: Actor, month: date, branch_code: str | None = None
) -> MonthCalendar:
    """The weeks (Monday first) around `month`, each day with up to 3 obligations due then
    in scope (the most severe first) and how many more."""
    branches = await branch_options(session, actor)
    _, branch_id, _ = _parse(ObligationFilters(branch=branch_code), branches, actor)
    first = month.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    start = first - timedelta(days=first.weekday())
    end = last + timedelta(days=6 - last.weekday())
    instance = ObligationInstance
    scope = _conditions(actor, ObligationFilters(status="all"), None, branch_id, None)
    ranked = (
        select(
            instance.id,
            func.row_number()
            .over(partition_by=instance.due_at, order_by=(instance.severity.desc(), instance.id))
            .label("rank"),
        )
        .where(*scope, instance.due_at >= start, instance.due_at <= end)
        .subquery()
    )
    rows = await session.execute(
        view_select()
        .join(ranked, and_(ranked.c.id == instance.id, ranked.c.rank <= PER_DAY))
        .order_by(instance.due_at, instance.severity.desc(), instance.id)
    )
    counted = await session.execute(
        select(instance.due_at, func.count())
        .where(*scope, instance.due_at >= start, instance.due_at <= end)
        .group_by(instance.due_at)
    )
    counts: dict[date, int] = dict(counted.all())
    by_day: dict[date, list[ObligationView]] = {}
    for row in rows:
        view = to_view(row._mapping, actor.today)
        by_day.setdefault(view.due_at, []).append(view)
    weeks: list[list[CalendarDay]] = []
    day = start
    while day <= end:
        week = []
        for _ in range(7):
            items = by_day.get(day, [])
            week.append(
                CalendarDay(day, day.month == first.month, items, counts.get(day, 0) - len(items))
            )
            day += timedelta(days=1)
        weeks.append(week)
    previous = (first - timedelta(days=1)).replace(day=1)
    return MonthCalendar(first, weeks, previous, last + timedelta(days=1))
