"""The daily digest: per user, what is overdue, due soon and failing in their branches.

Its own package because it reads obligations and certificates and writes notify's outbox:
kept out of `core.notify`, neither of those needs to import the other.

`digest_summary` is what `/digest` shows on demand; `run_digest` is the scheduler job that
emits one `digest` event per user per local day, after the tenant's digest time, when there
is something to say. Emission is idempotent (fingerprint per user and date, `once=True`), so
several replicas running the job at the same time still send one digest.

Head office's digest also lists the waivers of the day (SPEC §7: a waived statutory return
must not go unseen): those of the 24 hours up to today's digest time, so consecutive digests
cover every waiver exactly once, whenever the job happens to run; `/digest` on demand lists
those of the last 24 hours. Branch managers and operators get no waiver list: they see
their own branches' obligations, and a waiver is head office's to oversee.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.config import Settings
from core.db.enums import (
    FAILING_CHECKS,
    OPEN_OBLIGATION,
    NotificationEventType,
    Severity,
    SslCheckStatus,
)
from core.db.session import Database
from core.notify.events import emit_event
from core.obligations.models import ObligationInstance
from core.ssl.models import Domain
from core.tenancy.models import Branch, Tenant, User
from core.tenancy.names import person_name
from core.tenancy.scope import Actor, branch_scope

TOP_ITEMS = 5
WAIVER_ITEMS = 30
"""Waivers a digest's payload carries (newest first); the rest are counted. More than this
would not fit one Telegram message anyway."""
WAIVER_WINDOW = timedelta(days=1)
WAIVED_PREDICATE = "obligation_instances.status = 'waived'"


@dataclass(frozen=True)
class DigestItem:
    title: str
    branch_code: str
    due_at: date


@dataclass(frozen=True)
class DigestWaiver:
    """A waived obligation, as head office reads it: what, where, by whom, why."""

    title: str
    branch_code: str
    waived_by: str | None
    """The person's name; None when it was waived from the command line."""
    reason: str
    waived_at: datetime


@dataclass(frozen=True)
class DigestSummary:
    """What the digest says, as data: the edge (bot, channels) words it per reader."""

    today: date
    overdue: int = 0
    due_today: int = 0
    due_this_week: int = 0
    failing_domains: int = 0
    expiring_domains: int = 0
    top: list[DigestItem] = field(default_factory=list)
    waivers: list[DigestWaiver] = field(default_factory=list)
    """Head office's digest only: the newest `WAIVER_ITEMS` waivers of its window."""
    waivers_total: int = 0

    @property
    def anything(self) -> bool:
        return any(
            (
                self.overdue,
                self.due_today,
                self.due_this_week,
                self.failing_domains,
                self.expiring_domains,
                self.waivers_total,
            )
        )

    def as_payload(self) -> dict[str, Any]:
        """The event's payload: JSON, read back by `core.notify.render` for each recipient."""
        return {
            "today": self.today.isoformat(),
            "overdue": self.overdue,
            "due_today": self.due_today,
            "due_this_week": self.due_this_week,
            "failing_domains": self.failing_domains,
            "expiring_domains": self.expiring_domains,
            "top": [
                {
                    "title": item.title,
                    "branch": item.branch_code,
                    "due_date": item.due_at.isoformat(),
                }
                for item in self.top
            ],
            **self._waivers_payload(),
        }

    def _waivers_payload(self) -> dict[str, Any]:
        """Present only when there are waivers: other digests' payloads stay as they were."""
        if not self.waivers_total:
            return {}
        return {
            "waivers_total": self.waivers_total,
            "waivers": [
                {
                    "title": waiver.title,
                    "branch": waiver.branch_code,
                    "by": waiver.waived_by,
                    "reason": waiver.reason,
                    "waived_at": waiver.waived_at.isoformat(),
                }
                for waiver in self.waivers
            ],
        }


async def digest_for(
    session: AsyncSession, actor: Actor, *, now: datetime | None = None
) -> DigestSummary:
    """`/digest` on demand: today's summary for the actor's scope; head office's with the
    waivers of the last 24 hours."""
    summary = await digest_summary(session, actor.branch_ids, actor.today)
    if not actor.role.head_office:
        return summary
    moment = utc_now(now)
    waivers, total = await waivers_between(session, since=moment - WAIVER_WINDOW, until=moment)
    return replace(summary, waivers=waivers, waivers_total=total)


async def waivers_between(
    session: AsyncSession, *, since: datetime, until: datetime
) -> tuple[list[DigestWaiver], int]:
    """The newest `WAIVER_ITEMS` waivers of the session's tenant in [since, until), and how
    many there are in all: still waived (a reopened one is no longer a waiver)."""
    waived = and_(
        # Written out, not bound: the planner then proves the partial index of waivers
        # (`ix_obligation_instances_waived`) even in a prepared statement's generic plan.
        text(WAIVED_PREDICATE),
        ObligationInstance.waived_at >= since,
        ObligationInstance.waived_at < until,
    )
    rows = await session.execute(
        select(
            ObligationInstance.title,
            Branch.code,
            ObligationInstance.waive_reason,
            ObligationInstance.waived_at,
            ObligationInstance.waived_by_user_id,
            User.full_name,
            User.telegram_name,
            User.telegram_username,
            User.email,
            func.count().over().label("total"),
        )
        .join(Branch, Branch.id == ObligationInstance.branch_id)
        .outerjoin(User, User.id == ObligationInstance.waived_by_user_id)
        .where(waived)
        .order_by(ObligationInstance.waived_at.desc())
        .limit(WAIVER_ITEMS)
    )
    waivers, total = [], 0
    for row in rows:
        total = row.total
        by = None
        if row.waived_by_user_id is not None:
            by = person_name(
                row.full_name,
                row.telegram_name,
                row.telegram_username,
                row.email,
                row.waived_by_user_id,
            )
        waivers.append(DigestWaiver(row.title, row.code, by, row.waive_reason or "", row.waived_at))
    return waivers, total


async def digest_summary(
    session: AsyncSession, scope: frozenset[uuid.UUID] | None, today: date
) -> DigestSummary:
    """Counts within `scope` (None: every branch), in the caller's tenant scope."""
    week_end = today + timedelta(days=7)
    open_in_scope = and_(
        ObligationInstance.status.in_(OPEN_OBLIGATION),
        true() if scope is None else ObligationInstance.branch_id.in_(scope),
    )
    counts = (
        await session.execute(
            select(
                func.count().filter(ObligationInstance.due_at < today),
                func.count().filter(ObligationInstance.due_at == today),
                func.count().filter(
                    ObligationInstance.due_at > today, ObligationInstance.due_at <= week_end
                ),
            ).where(open_in_scope, ObligationInstance.due_at <= week_end)
        )
    ).one()
    top = await session.execute(
        select(ObligationInstance.title, Branch.code, ObligationInstance.due_at)
        .join(Branch, Branch.id == ObligationInstance.branch_id)
        .where(open_in_scope, ObligationInstance.due_at <= week_end)
        .order_by(ObligationInstance.due_at)
        .limit(TOP_ITEMS)
    )
    domains_in_scope = true() if scope is None else Domain.branch_id.in_(scope)
    domains = (
        await session.execute(
            select(
                func.count().filter(Domain.status.in_(FAILING_CHECKS)),
                func.count().filter(Domain.status == SslCheckStatus.warning),
            ).where(domains_in_scope, Domain.paused_at.is_(None))
        )
    ).one()
    return DigestSummary(
        today=today,
        overdue=counts[0],
        due_today=counts[1],
        due_this_week=counts[2],
        failing_domains=domains[0],
        expiring_domains=domains[1],
        top=[DigestItem(title, code, due) for title, code, due in top],
    )


@dataclass
class DigestReport:
    tenants: int = 0
    emitted: int = 0


async def run_digest(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> DigestReport:
    """Emit today's digest for every active user whose tenant has passed its digest time."""
    moment = utc_now(now)
    report = DigestReport()
    async with db.system_uow() as session:
        tenants = list(await session.execute(select(Tenant.id, Tenant.timezone)))
    for tenant_id, timezone in tenants:
        zone = ZoneInfo(timezone)
        local = moment.astimezone(zone)
        if local.time() < settings.digest_local_time:
            continue
        report.tenants += 1
        today = local.date()
        window = (
            datetime.combine(today - timedelta(days=1), settings.digest_local_time, zone),
            datetime.combine(today, settings.digest_local_time, zone),
        )
        report.emitted += await _tenant_digests(db, tenant_id, today, moment, window)
    return report


async def _tenant_digests(
    db: Database,
    tenant_id: uuid.UUID,
    today: date,
    moment: datetime,
    waiver_window: tuple[datetime, datetime],
) -> int:
    """Each reachable user's digest; head office's waivers are read once for all of them."""
    emitted = 0
    waivers: tuple[list[DigestWaiver], int] | None = None
    async with db.tenant_uow(tenant_id) as session:
        users = list(
            await session.scalars(
                select(User).where(
                    User.status == "active",
                    or_(User.telegram_user_id.is_not(None), User.email.is_not(None)),
                )
            )
        )
        for user in users:
            summary = await digest_summary(session, await branch_scope(session, user), today)
            if user.role.head_office:
                if waivers is None:
                    since, until = waiver_window
                    waivers = await waivers_between(session, since=since, until=until)
                summary = replace(summary, waivers=waivers[0], waivers_total=waivers[1])
            if not summary.anything:
                continue
            event = await emit_event(
                session,
                tenant_id=tenant_id,
                event_type=NotificationEventType.digest,
                severity=Severity.low,
                fingerprint=f"digest:{user.id}:{today.isoformat()}",
                payload={"user_id": user.id, **summary.as_payload()},
                scheduled_for=moment,
                once=True,
            )
            emitted += event is not None
    return emitted
