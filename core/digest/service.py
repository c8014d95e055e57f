"""The daily digest: per user, what is overdue, due soon and failing in their branches.

`digest_summary` is what `/digest` shows on demand; `run_digest` is the scheduler job that
emits one `digest` event per user per local day, after the tenant's digest time, when there
is something to say. Emission is idempotent (fingerprint per user and date, `once=True`), so
several replicas running the job at the same time still send one digest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.config import Settings
from core.db.enums import NotificationEventType, ObligationStatus, Severity, SslCheckStatus
from core.db.session import Database
from core.notify.events import emit_event
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.ssl.models import Domain
from core.tenancy.models import Tenant, User
from core.tenancy.scope import branch_scope, load_actor

FAILING = (
    SslCheckStatus.expired,
    SslCheckStatus.handshake_failed,
    SslCheckStatus.dns_failed,
    SslCheckStatus.timeout,
    SslCheckStatus.hostname_mismatch,
)
OPEN = (ObligationStatus.upcoming, ObligationStatus.due_today, ObligationStatus.overdue)
TOP_ITEMS = 5


@dataclass(frozen=True)
class DigestSummary:
    today: date
    overdue: int = 0
    due_today: int = 0
    due_this_week: int = 0
    failing_domains: int = 0
    expiring_domains: int = 0
    top: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return any(
            (
                self.overdue,
                self.due_today,
                self.due_this_week,
                self.failing_domains,
                self.expiring_domains,
            )
        )

    def text(self) -> str:
        if not self.anything:
            return "Nothing overdue, nothing due this week, every certificate fine."
        lines = [
            f"Overdue: {self.overdue}",
            f"Due today: {self.due_today}",
            f"Due within 7 days: {self.due_this_week}",
            f"Certificates failing: {self.failing_domains}, expiring soon: {self.expiring_domains}",
        ]
        if self.top:
            lines.append("Most urgent:")
            lines.extend(f"• {item}" for item in self.top)
        return "\n".join(lines)


async def digest_for(db: Database, user: User, *, now: datetime | None = None) -> DigestSummary:
    """`/digest` on demand: today's summary for `user`, re-read and scoped in one unit of work.

    An inactive or removed user gets PermissionDeniedError.
    """
    async with db.tenant_uow(user.tenant_id) as session:
        actor = await load_actor(session, user, now=now)
        return await digest_summary(session, actor.branch_ids, actor.today)


async def digest_summary(
    session: AsyncSession, scope: frozenset[uuid.UUID] | None, today: date
) -> DigestSummary:
    """Counts within `scope` (None: every branch), in the caller's tenant scope."""
    week_end = today + timedelta(days=7)
    open_in_scope = and_(
        ObligationInstance.status.in_(OPEN),
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
        select(ObligationTemplate.title, ObligationInstance.due_at)
        .join(ObligationTemplate, ObligationTemplate.id == ObligationInstance.template_id)
        .where(open_in_scope, ObligationInstance.due_at <= week_end)
        .order_by(ObligationInstance.due_at)
        .limit(TOP_ITEMS)
    )
    domains_in_scope = true() if scope is None else Domain.branch_id.in_(scope)
    domains = (
        await session.execute(
            select(
                func.count().filter(Domain.status.in_(FAILING)),
                func.count().filter(Domain.status == SslCheckStatus.warning),
            ).where(domains_in_scope)
        )
    ).one()
    return DigestSummary(
        today=today,
        overdue=counts[0],
        due_today=counts[1],
        due_this_week=counts[2],
        failing_domains=domains[0],
        expiring_domains=domains[1],
        top=[f"{title} — {_when(due, today)}" for title, due in top],
    )


def _when(due: date, today: date) -> str:
    days = (due - today).days
    if days < 0:
        return f"{-days} day(s) overdue"
    if days == 0:
        return "due today"
    return f"due {due:%d %b} (in {days} day(s))"


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
        local = moment.astimezone(ZoneInfo(timezone))
        if local.time() < settings.digest_local_time:
            continue
        report.tenants += 1
        report.emitted += await _tenant_digests(db, tenant_id, local.date(), moment)
    return report


async def _tenant_digests(db: Database, tenant_id: uuid.UUID, today: date, moment: datetime) -> int:
    emitted = 0
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
            if not summary.anything:
                continue
            event = await emit_event(
                session,
                tenant_id=tenant_id,
                event_type=NotificationEventType.digest,
                severity=Severity.low,
                fingerprint=f"digest:{user.id}:{today.isoformat()}",
                payload={
                    "user_id": user.id,
                    "headline": f"Your Intrex digest for {today:%d %b %Y}",
                    "summary": summary.text(),
                },
                scheduled_for=moment,
                once=True,
            )
            emitted += event is not None
    return emitted
