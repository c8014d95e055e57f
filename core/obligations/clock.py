"""The compliance clock: statuses by each tenant's local date, and reminders, once each.

One run, in one transaction on the system path, guarded by a transaction-scoped advisory
lock so that replicas ticking at the same moment do not both run it:

1. The status sweep is one set-based UPDATE over every tenant: `upcoming` / `due_today`
   instances whose due date has come (by `now AT TIME ZONE tenants.timezone`) move to
   `due_today` or `overdue`. It reads the (tenant_id, status, due_at) index.
2. Reminders: each open instance carries `next_reminder_on`, the local date on which it
   next reaches a reminder level (a lead time before the due date, or overdue the day
   after). The clock takes the instances whose date has come, sends the *most urgent*
   level reached (`obligation_overdue` when late, else `obligation_due` for the smallest
   lead time reached), and moves `next_reminder_on` to the next level's date.

Catch-up: a run after downtime still finds every instance whose level date passed (the
query is `next_reminder_on <= today`, not `= today`), but sends only the level that is
current now rather than a burst of stale ones: after a week's outage an instance due
tomorrow gets its 1-day reminder, not the 30-, 14- and 7-day ones as well. The issue's
rule "send when due <= today + lead and not yet sent" holds for the lead that matters.

Every reminder is emitted with a fingerprint per instance and level and `once=True`, so
however often levels are revisited (a reopened instance, a replayed run), each is sent
at most once. A run handles at most `batch_limit` reminders (oldest first) to keep its
transaction short; `ClockReport.more_pending` says the next tick has more to do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import NotificationEventType, ObligationStatus, Severity
from core.db.session import Database
from core.notify.events import emit_event
from core.obligations.models import ObligationInstance
from core.obligations.schedule import next_reminder_on, reminder_lead_due

CLOCK_LOCK = "intrex:obligation_clock"
DEFAULT_BATCH_LIMIT = 2000

SWEEP_SQL = text(
    """
    WITH local AS (
        SELECT id AS tenant_id, (CAST(:now AS timestamptz) AT TIME ZONE timezone)::date AS today
        FROM tenants
    ), moved AS (
        UPDATE obligation_instances AS oi
        SET status = CASE WHEN oi.due_at < local.today
                          THEN 'overdue'::obligation_status
                          ELSE 'due_today'::obligation_status END
        FROM local
        WHERE oi.tenant_id = local.tenant_id
          AND oi.status IN ('upcoming', 'due_today')
          AND oi.due_at <= local.today
          AND NOT (oi.status = 'due_today' AND oi.due_at = local.today)
        RETURNING oi.status
    )
    SELECT status::text AS status, count(*) AS moved FROM moved GROUP BY status
    """
)

CANDIDATES_SQL = text(
    """
    WITH local AS (
        SELECT id AS tenant_id, (CAST(:now AS timestamptz) AT TIME ZONE timezone)::date AS today
        FROM tenants
    )
    SELECT oi.id, oi.tenant_id, oi.branch_id, oi.template_id, oi.due_at, local.today,
           oi.status::text AS status,
           oi.title, oi.category::text AS category, oi.severity::text AS severity,
           oi.owner_user_id, t.reminder_lead_days, t.grace_days,
           b.code AS branch_code, b.name AS branch_name
    FROM local
    JOIN obligation_instances AS oi
      ON oi.tenant_id = local.tenant_id
     AND oi.next_reminder_on IS NOT NULL
     AND oi.next_reminder_on <= local.today
    JOIN obligation_templates AS t ON t.id = oi.template_id
    JOIN branches AS b ON b.id = oi.branch_id
    WHERE oi.status IN ('upcoming', 'due_today', 'overdue')
    ORDER BY oi.next_reminder_on, oi.id
    LIMIT :limit
    FOR UPDATE OF oi SKIP LOCKED
    """
)


@dataclass
class SweepCounts:
    due_today: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return self.due_today + self.overdue


@dataclass
class ClockReport:
    """What one clock run did (`ran` is False when another replica held the lock)."""

    ran: bool = False
    moved_to_due_today: int = 0
    moved_to_overdue: int = 0
    due_reminders: int = 0
    overdue_reminders: int = 0
    grace_escalations: int = 0
    already_sent: int = 0
    more_pending: bool = False
    per_tenant_events: dict[uuid.UUID, int] = field(default_factory=dict)


def due_fingerprint(instance_id: uuid.UUID, due_at: date, lead_days: int) -> str:
    """One reminder level of an instance for one due date: a moved due date is reminded
    of again, a level once sent for a date never twice."""
    return f"obligation_due:{instance_id}:{due_at.isoformat()}:{lead_days}"


def overdue_fingerprint(instance_id: uuid.UUID, due_at: date) -> str:
    return f"obligation_overdue:{instance_id}:{due_at.isoformat()}"


def grace_fingerprint(instance_id: uuid.UUID, due_at: date) -> str:
    """The escalated overdue alert of an instance still open after its grace days."""
    return f"{overdue_fingerprint(instance_id, due_at)}:grace"


def reminder_fingerprint_prefixes(instance_id: uuid.UUID) -> tuple[str, str]:
    """Every reminder of an instance has a fingerprint starting with one of these (ids are
    fixed-length, so no other instance's fingerprints share them)."""
    return f"obligation_due:{instance_id}:", f"obligation_overdue:{instance_id}:"


def raised(severity: Severity) -> Severity:
    """One step more severe (critical stays critical): the grace escalation's severity."""
    order = list(Severity)
    return order[min(order.index(severity) + 1, len(order) - 1)]


async def sweep_statuses(session: AsyncSession, now: datetime) -> SweepCounts:
    """Move due and late instances of every tenant forward, in one statement."""
    counts = SweepCounts()
    for row in await session.execute(SWEEP_SQL, {"now": utc_now(now)}):
        if row.status == ObligationStatus.due_today.value:
            counts.due_today = int(row.moved)
        elif row.status == ObligationStatus.overdue.value:
            counts.overdue = int(row.moved)
    return counts


def _payload(row: Any, days_left: int, lead: int | None) -> dict[str, Any]:
    """What an alert says (`core.notify.render`): the branch, the title, the due date, the
    days left (negative: late), the instance's status after this run's sweep and its owner
    (reminders go to the owner first: `core.notify.routing`)."""
    return {
        "obligation_instance_id": str(row.id),
        "template_id": str(row.template_id),
        "branch_id": str(row.branch_id),
        "branch_code": row.branch_code,
        "branch_name": row.branch_name,
        "title": row.title,
        "category": row.category,
        "due_at": row.due_at.isoformat(),
        "days_left": days_left,
        "status": row.status,
        "lead_days": lead,
        "local_date": row.today.isoformat(),
        "owner_user_id": row.owner_user_id,
    }


async def send_reminders(
    session: AsyncSession, now: datetime, *, batch_limit: int, report: ClockReport
) -> None:
    rows = (await session.execute(CANDIDATES_SQL, {"now": now, "limit": batch_limit + 1})).all()
    report.more_pending = len(rows) > batch_limit
    moves: list[dict[str, Any]] = []
    for row in rows[:batch_limit]:
        today: date = row.today
        leads: list[int] = list(row.reminder_lead_days or [])
        days_left = (row.due_at - today).days
        common = {
            "tenant_id": row.tenant_id,
            "branch_id": row.branch_id,
            "severity": Severity(row.severity),
            "scheduled_for": now,
            "once": True,
        }
        event = None
        attempted = True
        grace = int(row.grace_days or 0)
        if days_left < 0 and grace and -days_left >= grace:
            event = await emit_event(
                session,
                event_type=NotificationEventType.obligation_overdue,
                fingerprint=grace_fingerprint(row.id, row.due_at),
                payload={**_payload(row, days_left, None), "escalated": True, "grace_days": grace},
                **{**common, "severity": raised(Severity(row.severity))},
            )
            if event is not None:
                report.grace_escalations += 1
        elif days_left < 0:
            event = await emit_event(
                session,
                event_type=NotificationEventType.obligation_overdue,
                fingerprint=overdue_fingerprint(row.id, row.due_at),
                payload=_payload(row, days_left, None),
                **common,
            )
            if event is not None:
                report.overdue_reminders += 1
        else:
            lead = reminder_lead_due(row.due_at, leads, today)
            if lead is not None:
                event = await emit_event(
                    session,
                    event_type=NotificationEventType.obligation_due,
                    fingerprint=due_fingerprint(row.id, row.due_at, lead),
                    payload=_payload(row, days_left, lead),
                    **common,
                )
                if event is not None:
                    report.due_reminders += 1
            else:
                attempted = False
        if attempted and event is None:
            report.already_sent += 1
        if event is not None:
            report.per_tenant_events[row.tenant_id] = (
                report.per_tenant_events.get(row.tenant_id, 0) + 1
            )
        upcoming_level = next_reminder_on(row.due_at, leads, today, grace_days=grace)
        moves.append({"id": row.id, "next_reminder_on": upcoming_level})
    if moves:
        await session.execute(update(ObligationInstance), moves)


async def run_obligation_clock(
    db: Database, *, now: datetime | None = None, batch_limit: int = DEFAULT_BATCH_LIMIT
) -> ClockReport:
    """The scheduler job (every few minutes): status sweep, then reminders, for all tenants."""
    moment = utc_now(now)
    report = ClockReport()
    async with db.system_uow() as session:
        lock = func.pg_try_advisory_xact_lock(func.hashtextextended(CLOCK_LOCK, 0))
        if not await session.scalar(select(lock)):
            return report
        report.ran = True
        swept = await sweep_statuses(session, moment)
        report.moved_to_due_today = swept.due_today
        report.moved_to_overdue = swept.overdue
        await send_reminders(session, moment, batch_limit=batch_limit, report=report)
    return report
