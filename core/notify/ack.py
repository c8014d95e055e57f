"""Acknowledging an alert: someone in scope says "I have this", and escalation stops."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select, update

from core.audit import record, snapshot
from core.db.enums import NotificationStatus
from core.db.session import Database
from core.errors import NotFoundError, ValidationError
from core.notify.models import Acknowledgement, NotificationEvent, NotificationStep
from core.notify.routing import USER_PREFIX
from core.tenancy.models import User
from core.tenancy.scope import branch_scope, in_scope

MAX_NOTE = 1000
PENDING = (NotificationStatus.queued, NotificationStatus.failed, NotificationStatus.processing)


class NotAllowedError(NotFoundError):
    """Reported like a missing alert, so nobody learns of alerts outside their scope."""


@dataclass(frozen=True)
class AckResult:
    acknowledgement: Acknowledgement
    event: NotificationEvent
    acknowledged_by: User
    already: bool
    """True when the alert had been acknowledged before (by this user or another)."""


async def acknowledge(
    db: Database,
    *,
    tenant_id: uuid.UUID,
    user_id: int,
    event_id: uuid.UUID,
    note: str | None = None,
) -> AckResult:
    """Record the acknowledgement, mark the event `acked` and cancel its pending steps.

    Idempotent: a second acknowledgement returns the first one unchanged. Allowed to head
    office, to users whose branches include the event's branch, and to anyone the alert
    was sent to.
    """
    if note is not None:
        note = note.strip() or None
        if note is not None and len(note) > MAX_NOTE:
            raise ValidationError(f"the note is longer than {MAX_NOTE} characters")
    async with db.tenant_uow(tenant_id) as session:
        user = await session.get(User, user_id)
        event = await session.get(NotificationEvent, event_id, with_for_update=True)
        if user is None or user.status != "active" or event is None:
            raise NotFoundError("This alert does not exist or is not yours to acknowledge.")
        recipient = exists().where(
            NotificationStep.notification_event_id == event.id,
            NotificationStep.recipient_ref == f"{USER_PREFIX}{user.id}",
        )
        allowed = in_scope(await branch_scope(session, user), event.branch_id) or bool(
            await session.scalar(select(recipient))
        )
        if not allowed:
            raise NotAllowedError("This alert does not exist or is not yours to acknowledge.")
        existing = await session.scalar(
            select(Acknowledgement).where(Acknowledgement.notification_event_id == event.id)
        )
        if existing is not None:
            first_by = await session.get(User, existing.ack_by_user_id)
            assert first_by is not None
            return AckResult(existing, event, first_by, already=True)
        before = snapshot(event, exclude={"payload_json"})
        ack = Acknowledgement(
            tenant_id=tenant_id,
            notification_event_id=event.id,
            ack_by_user_id=user.id,
            ack_note=note,
        )
        session.add(ack)
        event.status = NotificationStatus.acked
        await session.execute(
            update(NotificationStep)
            .where(
                NotificationStep.notification_event_id == event.id,
                NotificationStep.status.in_(PENDING),
            )
            .values(status=NotificationStatus.cancelled, claimed_until=None, claimed_by=None)
        )
        await session.flush()
        await session.refresh(ack)
        await record(
            session,
            tenant_id=tenant_id,
            action="alert.acknowledge",
            entity_type="notification_event",
            entity_id=event.id,
            before=before,
            after={**snapshot(event, exclude={"payload_json"}), "ack_note": note},
            user_id=user.id,
        )
        return AckResult(ack, event, user, already=False)
