"""Resolving routes into an event's delivery plan, when the event is created.

A route matches an event by branch (its own or all), event type (its own or all) and
minimum severity. Each match becomes one step, due `delay_minutes` after the event: level 1
goes at once, later levels only if nobody has acknowledged by then. A Telegram step keeps
the route's reference to people (`role:ROLE`, an email, `owner`, `group:CODE`): who they are
is decided when the step is due (`core.notify.recipients`), not here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import ConnectorStatus, ConnectorType, NotificationEventType
from core.notify.models import Connector, NotificationEvent, NotificationRoute, NotificationStep
from core.notify.recipients import USER_PREFIX
from core.tenancy.models import User


def _type_matches(event_type: NotificationEventType) -> ColumnElement[bool]:
    """Routes for this type, or for all types; a personal digest only goes where asked for."""
    exact = NotificationRoute.event_type == event_type
    if event_type is NotificationEventType.digest:
        return exact
    return or_(exact, NotificationRoute.event_type.is_(None))


async def plan_steps(session: AsyncSession, event: NotificationEvent) -> list[NotificationStep]:
    """Create the event's steps from the routes in force (the caller's transaction)."""
    routes = await session.execute(
        select(NotificationRoute)
        .join(
            Connector,
            (Connector.id == NotificationRoute.connector_id)
            & (Connector.tenant_id == NotificationRoute.tenant_id),
        )
        .where(
            NotificationRoute.tenant_id == event.tenant_id,
            or_(
                NotificationRoute.branch_id.is_(None),
                NotificationRoute.branch_id == event.branch_id,
            ),
            _type_matches(event.event_type),
            NotificationRoute.severity_min <= event.severity,
            Connector.status != ConnectorStatus.disabled,
        )
        .order_by(NotificationRoute.level, NotificationRoute.delay_minutes)
    )
    steps: list[NotificationStep] = []
    seen: set[tuple[uuid.UUID, str]] = set()
    for (route,) in routes:
        if (route.connector_id, route.recipient_ref) in seen:
            continue
        seen.add((route.connector_id, route.recipient_ref))
        steps.append(
            NotificationStep(
                tenant_id=event.tenant_id,
                notification_event_id=event.id,
                route_id=route.id,
                connector_id=route.connector_id,
                recipient_ref=route.recipient_ref,
                level=route.level,
                next_attempt_at=event.scheduled_for + timedelta(minutes=route.delay_minutes),
            )
        )
    steps.extend(await _personal_digest_steps(session, event, seen))
    session.add_all(steps)
    await session.flush()
    return steps


async def _personal_digest_steps(
    session: AsyncSession, event: NotificationEvent, seen: set[tuple[uuid.UUID, str]]
) -> list[NotificationStep]:
    """A digest belongs to one user: Telegram when they are linked, else their email."""
    user_id = event.payload_json.get("user_id")
    if event.event_type is not NotificationEventType.digest or user_id is None:
        return []
    user = await session.get(User, int(user_id))
    if user is None:
        return []
    usable = await session.execute(
        select(Connector.type, Connector.id)
        .where(
            Connector.tenant_id == event.tenant_id,
            Connector.type.in_([ConnectorType.telegram_bot, ConnectorType.email_smtp]),
            Connector.status != ConnectorStatus.disabled,
        )
        .order_by(Connector.created_at)
    )
    by_type: dict[ConnectorType, uuid.UUID] = {}
    for connector_type, connector_id in usable:
        by_type.setdefault(connector_type, connector_id)
    if user.telegram_user_id is not None and ConnectorType.telegram_bot in by_type:
        connector_id, recipient = by_type[ConnectorType.telegram_bot], f"{USER_PREFIX}{user.id}"
    elif user.email and ConnectorType.email_smtp in by_type:
        connector_id, recipient = by_type[ConnectorType.email_smtp], user.email
    else:
        return []
    if (connector_id, recipient) in seen:
        return []
    return [
        NotificationStep(
            tenant_id=event.tenant_id,
            notification_event_id=event.id,
            connector_id=connector_id,
            recipient_ref=recipient,
            level=1,
            next_attempt_at=event.scheduled_for,
        )
    ]
