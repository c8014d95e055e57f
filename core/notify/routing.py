"""Resolving routes into an event's delivery plan, when the event is created.

A route matches an event by branch (its own or all), event type (its own or all) and
minimum severity. Each match becomes one step, due `delay_minutes` after the event: level 1
goes at once, later levels only if nobody has acknowledged by then. A Telegram step keeps
the route's reference to people (`role:ROLE`, an email, `owner`, `group:CODE`): who they are
is decided when the step is due (`core.notify.recipients`), not here.

Owner first (SPEC §6): a reminder about an obligation that has an owner goes to the owner
at once (Telegram when they are linked, else their email), and the routes' steps follow one
level later, `OWNER_HEAD_START` after their own delay: if the owner acknowledges in that
time, the routes stay quiet; if the owner cannot be reached, the next level goes at once
(the dispatcher's stranded-event rule), so nobody waits on an owner who is not there.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import ConnectorStatus, ConnectorType, NotificationEventType
from core.notify.models import Connector, NotificationEvent, NotificationRoute, NotificationStep
from core.notify.recipients import OWNER, USER_PREFIX
from core.tenancy.models import User

OWNER_HEAD_START = timedelta(minutes=30)
OWNED_EVENTS = frozenset(
    {NotificationEventType.obligation_due, NotificationEventType.obligation_overdue}
)


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
    owner_step = await _owner_step(session, event)
    if owner_step is not None:
        steps.append(owner_step)
        seen.add((owner_step.connector_id, owner_step.recipient_ref))
    later = 1 if owner_step is not None else 0
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
                level=route.level + later,
                next_attempt_at=event.scheduled_for
                + timedelta(minutes=route.delay_minutes)
                + OWNER_HEAD_START * later,
            )
        )
    steps.extend(await _personal_digest_steps(session, event, seen))
    session.add_all(steps)
    await session.flush()
    return steps


async def _first_connectors(
    session: AsyncSession, tenant_id: uuid.UUID
) -> dict[ConnectorType, uuid.UUID]:
    """The tenant's oldest usable Telegram and email connectors, by type."""
    usable = await session.execute(
        select(Connector.type, Connector.id)
        .where(
            Connector.tenant_id == tenant_id,
            Connector.type.in_([ConnectorType.telegram_bot, ConnectorType.email_smtp]),
            Connector.status != ConnectorStatus.disabled,
        )
        .order_by(Connector.created_at)
    )
    by_type: dict[ConnectorType, uuid.UUID] = {}
    for connector_type, connector_id in usable:
        by_type.setdefault(connector_type, connector_id)
    return by_type


def _owner_of(payload: dict[str, Any]) -> int | None:
    value = payload.get("owner_user_id")
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


async def _owner_step(session: AsyncSession, event: NotificationEvent) -> NotificationStep | None:
    """The owner's step of an obligation reminder (None: no owner, or no way to reach them).

    On Telegram the step names `owner`, so it reaches whoever owns the obligation when it
    is sent; by email it goes to the owner's address now.
    """
    owner_id = _owner_of(event.payload_json or {})
    if event.event_type not in OWNED_EVENTS or owner_id is None:
        return None
    owner = await session.get(User, owner_id)
    if owner is None or owner.tenant_id != event.tenant_id or owner.status != "active":
        return None
    return await _personal_step(session, event, owner, telegram_reference=OWNER)


async def _personal_step(
    session: AsyncSession, event: NotificationEvent, user: User, *, telegram_reference: str
) -> NotificationStep | None:
    """A level-1 step to one person: Telegram (by `telegram_reference`) when they are
    linked, else their email; None when the tenant has no way to reach them."""
    by_type = await _first_connectors(session, event.tenant_id)
    if user.telegram_user_id is not None and ConnectorType.telegram_bot in by_type:
        connector_id, recipient = by_type[ConnectorType.telegram_bot], telegram_reference
    elif user.email and ConnectorType.email_smtp in by_type:
        connector_id, recipient = by_type[ConnectorType.email_smtp], user.email
    else:
        return None
    return NotificationStep(
        tenant_id=event.tenant_id,
        notification_event_id=event.id,
        connector_id=connector_id,
        recipient_ref=recipient,
        level=1,
        next_attempt_at=event.scheduled_for,
    )


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
    step = await _personal_step(session, event, user, telegram_reference=f"{USER_PREFIX}{user.id}")
    if step is None or (step.connector_id, step.recipient_ref) in seen:
        return []
    return [step]
