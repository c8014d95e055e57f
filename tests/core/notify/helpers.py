"""Small builders shared by the notification tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from typing import Any

from sqlalchemy import select

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import ConnectorType, NotificationEventType, Severity
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.events import emit_event
from core.notify.models import NotificationDelivery, NotificationEvent, NotificationStep
from core.notify.routes import add_route
from tests.core.notify.conftest import World

WEBHOOK_SECRET = "a-webhook-secret-of-some-length"


async def webhook(world: World, box: SecretBox, url: str, name: str = "hook") -> None:
    spec = ConnectorSpec(type=ConnectorType.webhook, name=name, url=url, secret=WEBHOOK_SECRET)
    await add_connector(world.db, box, world.tenant, spec, allow_private=True)


async def route(world: World, connector: str, recipient: str = "-", **options: Any) -> None:
    await add_route(
        world.db,
        world.tenant,
        connector_name=connector,
        event_type=options.pop("event_type", "all"),
        severity_min=options.pop("severity_min", "low"),
        recipient=recipient,
        **options,
    )


async def emit(
    world: World,
    at: datetime,
    *,
    severity: Severity = Severity.high,
    event_type: NotificationEventType = NotificationEventType.ssl_failure,
    fingerprint: str | None = None,
    payload: dict[str, Any] | None = None,
) -> NotificationEvent | None:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return await emit_event(
            session,
            tenant_id=world.tenant.id,
            event_type=event_type,
            severity=severity,
            fingerprint=fingerprint or f"test:{uuid.uuid4()}",
            payload=payload
            or {
                "host": "shop.example.com",
                "port": 443,
                "status": "expired",
                "branch_code": world.branch.code,
                "branch_name": world.branch.name,
            },
            branch_id=world.branch.id,
            scheduled_for=at,
        )


async def steps_of(world: World, event_id: uuid.UUID) -> list[NotificationStep]:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return list(
            await session.scalars(
                select(NotificationStep)
                .where(NotificationStep.notification_event_id == event_id)
                .order_by(NotificationStep.level)
            )
        )


async def deliveries_of(world: World, event_id: uuid.UUID) -> list[NotificationDelivery]:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return list(
            await session.scalars(
                select(NotificationDelivery)
                .where(NotificationDelivery.notification_event_id == event_id)
                .order_by(NotificationDelivery.created_at, NotificationDelivery.attempt_no)
            )
        )


async def event_of(world: World, event_id: uuid.UUID) -> NotificationEvent:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return await session.get_one(NotificationEvent, event_id)


def strict(settings: Settings) -> Settings:
    """The same settings with private targets refused, as in production."""
    return settings.model_copy(update={"allow_private_targets": False})


def subject_of(message: Message) -> str:
    """A received email's subject as its reader sees it: decoded and unfolded."""
    return " ".join(str(make_header(decode_header(str(message["Subject"])))).split())
