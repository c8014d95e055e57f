"""Emitting notification events into the outbox, deduplicated by fingerprint.

Events are written in the caller's transaction (the same one as the change that causes
them), so an event exists exactly when its cause committed. A transaction-scoped advisory
lock on the fingerprint serialises emitters across processes, so two replicas noticing the
same thing at the same moment still produce one event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import NotificationEventType, NotificationStatus, Severity
from core.notify.models import NotificationEvent, NotificationStep
from core.notify.routing import plan_steps

CLOSED_STATUSES = (NotificationStatus.acked, NotificationStatus.cancelled)
"""An event in one of these needs nobody's attention any more; any other status is open
(a dead letter too: it still waits for someone to act on it)."""


async def emit_event(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    event_type: NotificationEventType,
    severity: Severity,
    fingerprint: str,
    payload: dict[str, Any],
    branch_id: uuid.UUID | None = None,
    scheduled_for: datetime | None = None,
    once: bool = False,
) -> NotificationEvent | None:
    """Queue an event and plan its deliveries; None when an equal event already exists.

    With no route to anyone the event is dead-lettered at once, so it shows in
    `intrex notify dead-letters` (where `--retry` plans it again after a route is added);
    a digest for a user nobody can reach is simply cancelled.

    Equal means the same tenant and fingerprint and, by default, still open. With
    `once=True` any earlier event with that fingerprint suppresses it, whatever its state:
    what a reminder or a certificate threshold needs ("once per instance and lead time").
    """
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"{tenant_id}:{fingerprint}", 0)))
    )
    existing = select(NotificationEvent.id).where(
        NotificationEvent.tenant_id == tenant_id, NotificationEvent.fingerprint == fingerprint
    )
    if not once:
        existing = existing.where(NotificationEvent.status.not_in(CLOSED_STATUSES))
    if await session.scalar(existing.limit(1)) is not None:
        return None
    event = NotificationEvent(
        tenant_id=tenant_id,
        branch_id=branch_id,
        event_type=event_type,
        severity=severity,
        fingerprint=fingerprint,
        payload_json=payload,
        scheduled_for=scheduled_for or utc_now(),
        status=NotificationStatus.queued,
    )
    session.add(event)
    await session.flush()
    if not await plan_steps(session, event):
        personal = event_type is NotificationEventType.digest
        event.status = NotificationStatus.cancelled if personal else NotificationStatus.dead_letter
        await session.flush()
    return event


async def resolve_events(session: AsyncSession, *, tenant_id: uuid.UUID, fingerprint: str) -> int:
    """Close the open events with this fingerprint (their cause went away by itself).

    They become `cancelled` and their undelivered steps stop, so an escalation does not
    wake someone at night for a certificate that has already recovered. Returns how many.
    """
    closed = list(
        await session.scalars(
            update(NotificationEvent)
            .where(
                NotificationEvent.tenant_id == tenant_id,
                NotificationEvent.fingerprint == fingerprint,
                NotificationEvent.status.not_in(CLOSED_STATUSES),
            )
            .values(status=NotificationStatus.cancelled)
            .returning(NotificationEvent.id)
        )
    )
    if closed:
        await session.execute(
            update(NotificationStep)
            .where(
                NotificationStep.notification_event_id.in_(closed),
                NotificationStep.status.in_(
                    (
                        NotificationStatus.queued,
                        NotificationStatus.failed,
                        NotificationStatus.processing,
                    )
                ),
            )
            .values(status=NotificationStatus.cancelled, claimed_until=None, claimed_by=None)
        )
    return len(closed)
