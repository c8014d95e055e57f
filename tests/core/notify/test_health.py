"""Connector health from real deliveries: sends through a real webhook receiver by the
dispatcher, and older history written through the models."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from core.crypto import SecretBox
from core.db.enums import ConnectorStatus, NotificationStatus
from core.notify.connectors import set_connector_status
from core.notify.dispatcher import Dispatcher
from core.notify.health import ConnectorHealth, HealthStatus, connector_health
from core.notify.models import Connector, NotificationDelivery
from core.notify.redaction import MASK
from tests.companies import new_tenant
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import deliveries_of, emit, route, webhook
from tests.peers import WebhookReceiver

BOT_TOKEN_SHAPE = "bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def health_of(world: World, now: datetime) -> dict[str, ConnectorHealth]:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return {found.name: found for found in await connector_health(session, now=now)}


async def old_delivery(
    world: World, connector: str, status: NotificationStatus, age: timedelta, error: str | None
) -> datetime:
    """A delivery recorded `age` ago (before the window when older than 7 days)."""
    event = await emit(world, datetime.now().astimezone())
    assert event is not None
    async with world.db.tenant_uow(world.tenant.id) as session:
        connector_id = await session.scalar(select(Connector.id).where(Connector.name == connector))
        assert isinstance(connector_id, uuid.UUID)
        recorded = event.created_at - age
        session.add(
            NotificationDelivery(
                tenant_id=world.tenant.id,
                notification_event_id=event.id,
                connector_id=connector_id,
                attempt_no=1,
                delivery_status=status,
                sent_at=recorded if status is NotificationStatus.sent else None,
                error=error,
                created_at=recorded,
            )
        )
    return recorded


async def test_mixed_deliveries_give_counts_rate_last_success_and_last_error(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    dispatcher: Dispatcher,
    clock: Clock,
) -> None:
    for name in ("hook", "quiet", "off"):
        await webhook(world, box, receiver.url, name=name)
    await set_connector_status(world.db, world.tenant, "off", ConnectorStatus.disabled)
    await old_delivery(world, "hook", NotificationStatus.sent, timedelta(days=9), None)
    quiet_success = await old_delivery(
        world, "quiet", NotificationStatus.sent, timedelta(days=10), None
    )
    await old_delivery(
        world,
        "quiet",
        NotificationStatus.dead_letter,
        timedelta(days=8),
        f"HTTP 401: Bearer {BOT_TOKEN_SHAPE}",
    )
    await route(world, "hook")

    failing = await emit(world, clock.now)
    assert failing is not None
    receiver.planned = [500]
    assert (await dispatcher.run_once()).retried == 1
    clock.advance(minutes=15)
    assert (await dispatcher.run_once()).sent == 1
    await emit(world, clock.now)
    receiver.planned = [503]
    clock.advance(minutes=1)
    assert (await dispatcher.run_once()).retried == 1

    found = await health_of(world, clock.now)
    hook = found["hook"]
    # The window holds a 500, its retry that got through and a 503; the success 9 days
    # ago is outside it.
    assert (hook.deliveries, hook.failures) == (3, 2)
    assert hook.success_rate == 1 / 3
    _, retried = await deliveries_of(world, failing.id)
    assert retried.delivery_status is NotificationStatus.sent
    assert hook.last_success_at == retried.created_at
    assert hook.last_error == "HTTP 503: nope"
    assert hook.last_error_at is not None
    assert hook.last_error_at > retried.created_at
    assert hook.status is HealthStatus.failing

    clock.advance(minutes=15)
    assert (await dispatcher.run_once()).sent == 1
    hook = (await health_of(world, clock.now))["hook"]
    assert (hook.deliveries, hook.failures, hook.success_rate) == (4, 2, 0.5)
    assert hook.last_success_at is not None
    assert hook.last_error_at is not None
    assert hook.last_success_at > hook.last_error_at
    assert hook.status is HealthStatus.degraded
    assert hook.as_json() == {
        "status": "degraded",
        "window_days": 7,
        "deliveries": 4,
        "failures": 2,
        "success_rate": 0.5,
        "last_success_at": hook.last_success_at.isoformat(),
        "last_error": "HTTP 503: nope",
        "last_error_at": hook.last_error_at.isoformat(),
    }

    quiet = found["quiet"]
    assert (quiet.deliveries, quiet.failures, quiet.success_rate) == (0, 0, None)
    assert quiet.status is HealthStatus.idle
    assert quiet.last_success_at == quiet_success
    assert quiet.last_error == f"HTTP 401: Bearer {MASK}"
    assert BOT_TOKEN_SHAPE not in str(quiet.as_json())
    assert found["off"].status is HealthStatus.disabled
    assert list(found) == ["hook", "off", "quiet"]


async def test_health_sees_only_the_tenant_of_the_session(
    world: World, box: SecretBox, receiver: WebhookReceiver
) -> None:
    await webhook(world, box, receiver.url, name="ours")
    other = await new_tenant(world.db)
    async with world.db.tenant_uow(other.id) as session:
        assert await connector_health(session) == []
    assert list(await health_of(world, datetime.now().astimezone())) == ["ours"]
