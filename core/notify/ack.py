"""Acknowledging an alert: someone allowed says "I have this", and escalation stops."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Exists, exists, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import SQLCoreOperations

from core.audit import record, snapshot
from core.db.enums import PENDING_NOTIFICATION, NotificationStatus
from core.errors import ErrorCode, NotFoundError, ValidationError
from core.notify import policy
from core.notify.copies import ACKNOWLEDGED, queue_edits
from core.notify.models import Acknowledgement, NotificationEvent, NotificationStep
from core.notify.recipients import USER_PREFIX
from core.tenancy.models import User
from core.tenancy.names import user_name
from core.tenancy.scope import Actor

MAX_NOTE = 1000
DELIVERED = (NotificationStatus.sent, NotificationStatus.acked)


def delivered_to(event_id: uuid.UUID | SQLCoreOperations[uuid.UUID], user_id: int | None) -> Exists:
    """An EXISTS: a step of the event has reached this user (not merely been planned); the
    command line (no user) was reached by nothing."""
    if user_id is None:
        return exists().where(false())
    return exists().where(
        NotificationStep.notification_event_id == event_id,
        NotificationStep.recipient_ref == f"{USER_PREFIX}{user_id}",
        NotificationStep.status.in_(DELIVERED),
    )


@dataclass(frozen=True)
class AckResult:
    acknowledgement: Acknowledgement
    event: NotificationEvent
    acknowledged_by: str
    """The name (or email) of who acknowledged first."""
    already: bool
    """True when the alert had been acknowledged before (by this user or another)."""


async def acknowledgeable(
    session: AsyncSession, actor: Actor, event_id: uuid.UUID, *, lock: bool = False
) -> NotificationEvent:
    """The event if the actor may acknowledge it (before asking them for a note, too)."""
    event = await session.get(NotificationEvent, event_id, with_for_update=lock)
    if event is None:
        raise NotFoundError(ErrorCode.alert_not_found)
    reached = bool(await session.scalar(select(delivered_to(event.id, actor.user_id))))
    if not policy.can_acknowledge(actor, event, delivered_to_actor=reached):
        raise NotFoundError(ErrorCode.alert_not_found)
    return event


def clean_note(note: str | None) -> str | None:
    cleaned = (note or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_NOTE:
        raise ValidationError(ErrorCode.note_too_long, limit=MAX_NOTE)
    return cleaned


async def acknowledge(
    session: AsyncSession,
    actor: Actor,
    event_id: uuid.UUID,
    note: str | None = None,
    *,
    pressed: tuple[int, int] | None = None,
) -> AckResult:
    """Record the acknowledgement, mark the event `acked` and cancel its pending steps.

    Idempotent: a second acknowledgement returns the first one unchanged. Who may: the
    notify policy; anyone else is told the alert does not exist, so nothing leaks. Every
    delivered Telegram copy is queued to be edited to say who and when, except `pressed`
    (chat, message): the copy the person pressed, which the bot edits at once itself.
    """
    cleaned = clean_note(note)
    event = await acknowledgeable(session, actor, event_id, lock=True)
    existing = await session.scalar(
        select(Acknowledgement).where(Acknowledgement.notification_event_id == event.id)
    )
    if existing is not None:
        first_by = await session.get_one(User, existing.ack_by_user_id)
        return AckResult(existing, event, user_name(first_by), already=True)
    before = snapshot(event, exclude={"payload_json"})
    ack = Acknowledgement(
        tenant_id=actor.tenant_id,
        notification_event_id=event.id,
        ack_by_user_id=actor.user_id,
        ack_note=cleaned,
    )
    session.add(ack)
    event.status = NotificationStatus.acked
    await session.execute(
        update(NotificationStep)
        .where(
            NotificationStep.notification_event_id == event.id,
            NotificationStep.status.in_(PENDING_NOTIFICATION),
        )
        .values(status=NotificationStatus.cancelled, claimed_until=None, claimed_by=None)
    )
    await session.flush()
    await session.refresh(ack)
    await queue_edits(session, [event.id], ACKNOWLEDGED, done=pressed)
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="alert.acknowledge",
        entity_type="notification_event",
        entity_id=event.id,
        before=before,
        after={**snapshot(event, exclude={"payload_json"}), "ack_note": cleaned},
        user_id=actor.user_id,
    )
    return AckResult(ack, event, actor.display_name, already=False)
