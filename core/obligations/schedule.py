"""Date arithmetic shared by generation, the clock and the actions: statuses and reminder dates.

Everything is in the tenant's local calendar: "today" is the tenant's date, not UTC's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import ObligationStatus
from core.errors import ErrorCode, NotFoundError
from core.tenancy.models import Tenant

ONE_DAY = timedelta(days=1)


async def tenant_today(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> date:
    """The tenant's local date at `now`, computed by PostgreSQL exactly as the clock does."""
    local = cast(func.timezone(Tenant.timezone, utc_now(now)), Date)
    today = await session.scalar(select(local).where(Tenant.id == tenant_id))
    if today is None:
        raise NotFoundError(ErrorCode.tenant_not_found, name=str(tenant_id))
    return today


def status_for(due_at: date, today: date) -> ObligationStatus:
    """The open status an instance due on `due_at` has on `today`."""
    if due_at < today:
        return ObligationStatus.overdue
    if due_at == today:
        return ObligationStatus.due_today
    return ObligationStatus.upcoming


def first_reminder_on(due_at: date, lead_days: Sequence[int]) -> date:
    """When the clock first needs to look at a new instance: its earliest threshold."""
    if lead_days:
        return due_at - timedelta(days=max(lead_days))
    return due_at + ONE_DAY


def next_reminder_on(
    due_at: date, lead_days: Sequence[int], today: date, *, grace_days: int = 0
) -> date | None:
    """The next date after `today` on which a new reminder level is reached (None: no more).

    The levels are each lead time before the due date, overdue the day after it and, with
    grace days, the escalation `grace_days` after it (SPEC §6: still open then).
    """
    thresholds = [due_at - timedelta(days=lead) for lead in lead_days]
    thresholds.append(due_at + ONE_DAY)
    if grace_days:
        thresholds.append(due_at + timedelta(days=grace_days))
    future = [day for day in thresholds if day > today]
    return min(future) if future else None


def reminder_lead_due(due_at: date, lead_days: Sequence[int], today: date) -> int | None:
    """The most urgent lead time already reached on `today` (None if none is, or overdue)."""
    days_left = (due_at - today).days
    if days_left < 0:
        return None
    reached = [lead for lead in lead_days if lead >= days_left]
    return min(reached) if reached else None
