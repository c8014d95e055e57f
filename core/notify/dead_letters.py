"""Dead letters: events that reached nobody, why, and sending them again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update

from core.audit import record
from core.clock import utc_now
from core.db.enums import NotificationStatus
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError
from core.notify.models import Connector, NotificationEvent, NotificationStep
from core.notify.routing import plan_steps
from core.tenancy.models import Tenant

NO_ROUTE = "no route matched this event (add one with `intrex route add`)"


@dataclass(frozen=True)
class DeadLetter:
    event: NotificationEvent
    tenant_name: str
    reasons: list[str]


async def list_dead_letters(
    db: Database, tenant: Tenant | None = None, *, limit: int = 100
) -> list[DeadLetter]:
    """The newest dead-lettered events (of one tenant or all), each with its failed steps."""
    async with db.system_uow() as session:
        query = (
            select(NotificationEvent, Tenant.name)
            .join(Tenant, Tenant.id == NotificationEvent.tenant_id)
            .where(NotificationEvent.status == NotificationStatus.dead_letter)
            .order_by(NotificationEvent.created_at.desc())
            .limit(limit)
        )
        if tenant is not None:
            query = query.where(NotificationEvent.tenant_id == tenant.id)
        events = (await session.execute(query)).all()
        steps = await session.execute(
            select(
                NotificationStep.notification_event_id,
                Connector.name,
                NotificationStep.recipient_ref,
                NotificationStep.attempts,
                NotificationStep.last_error,
            )
            .join(Connector, Connector.id == NotificationStep.connector_id)
            .where(
                NotificationStep.notification_event_id.in_([event.id for event, _ in events]),
                NotificationStep.status == NotificationStatus.dead_letter,
            )
        )
    reasons: dict[uuid.UUID, list[str]] = {}
    for event_id, connector, recipient, attempts, error in steps:
        reasons.setdefault(event_id, []).append(
            f"{connector} → {recipient}: {error or 'failed'} (after {attempts} attempt(s))"
        )
    return [DeadLetter(event, name, reasons.get(event.id, [NO_ROUTE])) for event, name in events]


async def retry_dead_letters(
    db: Database,
    tenant: Tenant | None = None,
    *,
    event_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> int:
    """Queue dead events again: failed steps start over; events without steps are re-routed."""
    moment = utc_now(now)
    async with db.system_uow() as session:
        query = select(NotificationEvent).where(
            NotificationEvent.status == NotificationStatus.dead_letter
        )
        if tenant is not None:
            query = query.where(NotificationEvent.tenant_id == tenant.id)
        if event_id is not None:
            query = query.where(NotificationEvent.id == event_id)
        events = list(await session.scalars(query.with_for_update(skip_locked=True)))
        if event_id is not None and not events:
            raise NotFoundError(ErrorCode.dead_letter_not_found, event_id=str(event_id))
        for event in events:
            revived = await session.execute(
                update(NotificationStep)
                .where(
                    NotificationStep.notification_event_id == event.id,
                    NotificationStep.status == NotificationStatus.dead_letter,
                )
                .values(
                    status=NotificationStatus.queued,
                    attempts=0,
                    next_attempt_at=moment,
                    claimed_until=None,
                    claimed_by=None,
                )
            )
            if not getattr(revived, "rowcount", 0):
                has_steps = await session.scalar(
                    select(NotificationStep.id)
                    .where(NotificationStep.notification_event_id == event.id)
                    .limit(1)
                )
                if has_steps is None:
                    event.scheduled_for = moment
                    if not await plan_steps(session, event):
                        continue
            event.status = NotificationStatus.queued
            await record(
                session,
                tenant_id=event.tenant_id,
                action="notification.retry",
                entity_type="notification_event",
                entity_id=event.id,
                after={"status": "queued"},
            )
        await session.flush()
        count = await session.scalar(
            text(
                "SELECT count(*) FROM notification_events "
                "WHERE id = ANY(:ids) AND status = 'queued'"
            ),
            {"ids": [event.id for event in events]},
        )
    return int(count or 0)
