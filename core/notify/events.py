"""Emitting notification events into the outbox, deduplicated by fingerprint.

Events are written in the caller's transaction (the same one as the change that causes
them), so an event exists exactly when its cause committed. A transaction-scoped advisory
lock on the fingerprint serialises emitters across processes, so two replicas noticing the
same thing at the same moment still produce one event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import (
    CLOSED_ALERT,
    PENDING_NOTIFICATION,
    NotificationEventType,
    NotificationStatus,
    Severity,
)
from core.notify.copies import RESOLVED, queue_edits
from core.notify.models import NotificationEvent, NotificationStep
from core.notify.routing import plan_steps


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
        existing = existing.where(NotificationEvent.status.not_in(CLOSED_ALERT))
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


async def resolve_events(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    fingerprint: str | None = None,
    fingerprint_prefix: str | Sequence[str] | None = None,
    resolution: str,
    by_user_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Close the open events of one cause (their cause went away, or someone dealt with it).

    The one way events end without an acknowledgement: a certificate recovering (its exact
    fingerprint) and an obligation completed, waived or deleted (every reminder of the
    instance, by its prefixes) all land here. The events become `cancelled` (with how
    they were resolved, by whom and when), their undelivered steps stop, so an escalation
    does not wake someone at night for a cause that is already gone, and every Telegram copy
    already delivered is queued to be edited to say so. Returns how many events were closed.
    """
    causes: list[Any] = []
    if fingerprint is not None:
        causes.append(NotificationEvent.fingerprint == fingerprint)
    prefixes = [fingerprint_prefix] if isinstance(fingerprint_prefix, str) else fingerprint_prefix
    for prefix in prefixes or ():
        causes.append(NotificationEvent.fingerprint.startswith(prefix, autoescape=True))
    if not causes:
        raise ValueError("resolve_events needs a fingerprint or a prefix")
    closed = list(
        await session.scalars(
            update(NotificationEvent)
            .where(
                NotificationEvent.tenant_id == tenant_id,
                or_(*causes),
                NotificationEvent.status.not_in(CLOSED_ALERT),
            )
            .values(
                status=NotificationStatus.cancelled,
                resolved_at=utc_now(now),
                resolved_by_user_id=by_user_id,
                resolution=resolution,
            )
            .returning(NotificationEvent.id)
            .execution_options(synchronize_session=False)
        )
    )
    if closed:
        await session.execute(
            update(NotificationStep)
            .where(
                NotificationStep.notification_event_id.in_(closed),
                NotificationStep.status.in_(PENDING_NOTIFICATION),
            )
            .values(status=NotificationStatus.cancelled, claimed_until=None, claimed_by=None)
        )
        await queue_edits(session, closed, RESOLVED)
    return len(closed)
