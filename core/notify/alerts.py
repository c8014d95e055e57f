"""The alerts a person should see: open events in their scope or delivered to them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import OPEN_ALERT, NotificationEventType, Severity
from core.notify.ack import delivered_to
from core.notify.models import NotificationEvent
from core.tenancy.models import Branch
from core.tenancy.scope import Actor

SEVERITY_ORDER = case(
    {Severity.critical: 0, Severity.high: 1, Severity.medium: 2, Severity.low: 3},
    value=NotificationEvent.severity,
)


@dataclass(frozen=True)
class AlertView:
    """One open alert as data; the edge words it (`core.notify.render.headline`)."""

    event_id: uuid.UUID
    event_type: NotificationEventType
    severity: Severity
    payload: dict[str, Any]
    branch_code: str | None
    created_at: datetime


async def list_open_alerts(
    session: AsyncSession, actor: Actor, *, limit: int = 10
) -> list[AlertView]:
    """Unacknowledged alerts (not digests) the actor may acknowledge, most severe first.

    The same rule as `policy.can_see_alert`, written as SQL so one statement finds them.
    """
    visible: ColumnElement[bool] = (
        true()
        if actor.branch_ids is None
        else or_(
            NotificationEvent.branch_id.in_(sorted(actor.branch_ids)),
            delivered_to(NotificationEvent.id, actor.user_id),
        )
    )
    rows = await session.execute(
        select(NotificationEvent, Branch.code)
        .outerjoin(Branch, Branch.id == NotificationEvent.branch_id)
        .where(
            NotificationEvent.status.in_(OPEN_ALERT),
            NotificationEvent.event_type != NotificationEventType.digest,
            NotificationEvent.is_test.is_(False),
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
            payload=dict(event.payload_json or {}),
            branch_code=code,
            created_at=event.created_at,
        )
        for event, code in rows
    ]
