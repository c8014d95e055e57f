"""The alerts a user should see: open events in their scope, newest and most severe first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, exists, or_, select, true

from core.db.enums import NotificationEventType, NotificationStatus, Severity
from core.db.session import Database
from core.errors import PermissionDeniedError
from core.notify.models import NotificationEvent, NotificationStep
from core.notify.render import headline
from core.notify.routing import USER_PREFIX
from core.tenancy.models import Branch, User
from core.tenancy.scope import load_actor

OPEN_ALERT = (
    NotificationStatus.queued,
    NotificationStatus.processing,
    NotificationStatus.sent,
    NotificationStatus.failed,
    NotificationStatus.dead_letter,
)
SEVERITY_ORDER = case(
    {Severity.critical: 0, Severity.high: 1, Severity.medium: 2, Severity.low: 3},
    value=NotificationEvent.severity,
)


@dataclass(frozen=True)
class AlertView:
    event_id: uuid.UUID
    event_type: NotificationEventType
    severity: Severity
    headline: str
    branch_code: str | None
    created_at: datetime


async def list_open_alerts(db: Database, user: User, *, limit: int = 10) -> list[AlertView]:
    """Unacknowledged alerts (not digests) for the user's branches or sent to them."""
    async with db.tenant_uow(user.tenant_id) as session:
        try:
            scope = (await load_actor(session, user)).branch_ids
        except PermissionDeniedError:
            return []
        sent_to_me = exists().where(
            NotificationStep.notification_event_id == NotificationEvent.id,
            NotificationStep.recipient_ref == f"{USER_PREFIX}{user.id}",
        )
        visible: ColumnElement[bool] = (
            true() if scope is None else or_(NotificationEvent.branch_id.in_(scope), sent_to_me)
        )
        rows = await session.execute(
            select(NotificationEvent, Branch.code)
            .outerjoin(Branch, Branch.id == NotificationEvent.branch_id)
            .where(
                NotificationEvent.status.in_(OPEN_ALERT),
                NotificationEvent.event_type != NotificationEventType.digest,
                visible,
            )
            .order_by(SEVERITY_ORDER, NotificationEvent.created_at.desc())
            .limit(limit)
        )
        return [
            AlertView(
                event_id=event.id,
                event_type=event.event_type,
                severity=event.severity,
                headline=headline(event.event_type.value, event.payload_json),
                branch_code=code,
                created_at=event.created_at,
            )
            for event, code in rows
        ]
