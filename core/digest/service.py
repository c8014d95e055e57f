"""The daily digest: per user, what is overdue, due soon and failing in their branches.

Its own package because it reads obligations and certificates and writes notify's outbox:
kept out of `core.notify`, neither of those needs to import the other.

`digest_summary` is what `/digest` shows on demand; `run_digest` is the scheduler job that
emits one `digest` event per user per local day, after the tenant's digest time, when there
is something to say. Emission is idempotent (fingerprint per user and date, `once=True`), so
several replicas running the job at the same time still send one digest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, true
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
from core.tenancy.scope import Actor, branch_scope

TOP_ITEMS = 5


@dataclass(frozen=True)
class DigestItem:
    title: str
    branch_code: str
    due_at: date


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
        }


async def digest_for(session: AsyncSession, actor: Actor) -> DigestSummary:
    """`/digest` on demand: today's summary for the actor's scope."""
    return await digest_summary(session, actor.branch_ids, actor.today)


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
                payload={"user_id": user.id, **summary.as_payload()},
                scheduled_for=moment,
                once=True,
            )
            emitted += event is not None
    return emitted
