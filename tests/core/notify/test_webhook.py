"""Webhook delivery against a real aiohttp receiver: signed, idempotent, retried, dead-lettered."""

from __future__ import annotations

import json

import pytest

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import ConnectorStatus, ConnectorType, NotificationStatus
from core.errors import ValidationError
from core.notify.channels.webhook import SIGNATURE_HEADER, verify
from core.notify.connectors import ConnectorSpec, add_connector, list_connectors
from core.notify.dead_letters import list_dead_letters, retry_dead_letters
from core.notify.dispatcher import Dispatcher
from core.notify.wiring import build_channels, close_channels
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import (
    WEBHOOK_SECRET,
    deliveries_of,
    emit,
    event_of,
    route,
    steps_of,
    strict,
    webhook,
)
from tests.peers import WebhookReceiver


async def test_delivered_signed_and_keyed(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None

    report = await dispatcher.run_once()

    assert (report.claimed, report.sent) == (1, 1)
    [request] = receiver.requests
    assert verify(WEBHOOK_SECRET, request.body, request.headers[SIGNATURE_HEADER])
    assert not verify("another-secret-entirely", request.body, request.headers[SIGNATURE_HEADER])
    body = json.loads(request.body)
    [step] = await steps_of(world, event.id)
    assert body["event_id"] == str(event.id)
    assert body["id"] == request.headers["Idempotency-Key"] == str(step.idempotency_key)
    assert body["event_type"] == "ssl_failure"
    assert body["subject"] == "[Intrex high] Certificate check failed: shop.example.com (DHK-01)"
    assert body["payload"]["status"] == "expired"
    assert step.status is NotificationStatus.sent
    [delivery] = await deliveries_of(world, event.id)
    assert (delivery.attempt_no, delivery.delivery_status) == (1, NotificationStatus.sent)
    assert delivery.sent_at is not None
    assert (await event_of(world, event.id)).status is NotificationStatus.sent
    assert (await dispatcher.run_once()).claimed == 0


async def test_5xx_retried_with_backoff_then_delivered(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None
    receiver.planned = [500, 503]

    assert (await dispatcher.run_once()).retried == 1
    [step] = await steps_of(world, event.id)
    wait = (step.next_attempt_at - clock.now).total_seconds()
    assert 5 <= wait <= 10, wait
    assert (await dispatcher.run_once()).claimed == 0

    clock.advance(seconds=10)
    assert (await dispatcher.run_once()).retried == 1
    [step] = await steps_of(world, event.id)
    assert 10 <= (step.next_attempt_at - clock.now).total_seconds() <= 20

    clock.advance(seconds=20)
    assert (await dispatcher.run_once()).sent == 1
    deliveries = await deliveries_of(world, event.id)
    assert [d.delivery_status for d in deliveries] == [
        NotificationStatus.failed,
        NotificationStatus.failed,
        NotificationStatus.sent,
    ]
    assert [d.attempt_no for d in deliveries] == [1, 2, 3]
    assert deliveries[0].error == "HTTP 500: nope"
    assert len(set(receiver.by_key())) == 1
    assert (await event_of(world, event.id)).status is NotificationStatus.sent


async def test_timeout_is_transient(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None
    receiver.delay_seconds = 1.5

    assert (await dispatcher.run_once()).retried == 1
    receiver.delay_seconds = 0
    clock.advance(minutes=1)
    assert (await dispatcher.run_once()).sent == 1
    first, second = await deliveries_of(world, event.id)
    assert first.error == "timed out"
    assert second.delivery_status is NotificationStatus.sent


async def test_4xx_is_not_retried_and_can_be_resent(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None
    receiver.planned = [404]

    assert (await dispatcher.run_once()).dead == 1
    assert (await event_of(world, event.id)).status is NotificationStatus.dead_letter
    [letter] = await list_dead_letters(world.db, world.tenant)
    assert letter.event.id == event.id
    [reason] = letter.reasons
    assert reason.startswith("webhook 'hook': HTTP 404: nope (1 attempt, gave up ")

    assert await retry_dead_letters(world.db, world.tenant, now=clock.now) == 1
    assert (await dispatcher.run_once()).sent == 1
    assert (await event_of(world, event.id)).status is NotificationStatus.sent
    assert await list_dead_letters(world.db, world.tenant) == []


async def test_dead_letter_after_last_attempt_and_connector_health(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None
    receiver.planned = [500] * 4

    for _ in range(4):
        await dispatcher.run_once()
        clock.advance(minutes=10)

    [step] = await steps_of(world, event.id)
    assert (step.status, step.attempts) == (NotificationStatus.dead_letter, 4)
    assert (await event_of(world, event.id)).status is NotificationStatus.dead_letter
    assert len(await deliveries_of(world, event.id)) == 4
    [view] = await list_connectors(world.db, box, world.tenant)
    assert view.connector.status is ConnectorStatus.error
    assert view.connector.consecutive_failures == 4

    await retry_dead_letters(world.db, world.tenant, now=clock.now)
    assert (await dispatcher.run_once()).sent == 1
    [view] = await list_connectors(world.db, box, world.tenant)
    assert (view.connector.status, view.connector.consecutive_failures) == (
        ConnectorStatus.active,
        0,
    )


async def test_private_targets_refused_at_add_and_at_connect(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    settings: Settings,
    clock: Clock,
) -> None:
    literal = ConnectorSpec(type=ConnectorType.webhook, name="literal", url=receiver.url)
    with pytest.raises(ValidationError, match="private, loopback or link-local"):
        await add_connector(world.db, box, world.tenant, literal, allow_private=False)

    by_name = f"http://localhost:{receiver.port}/hook"
    await webhook(world, box, by_name, name="named")
    await route(world, "named")
    event = await emit(world, clock.now)
    assert event is not None
    production = strict(settings)
    channels = build_channels(production)
    try:
        guarded = Dispatcher(world.db, production, box, channels, clock=clock)
        assert (await guarded.run_once()).dead == 1
    finally:
        await close_channels(channels)
    assert receiver.requests == []
    [delivery] = await deliveries_of(world, event.id)
    assert delivery.error is not None
    assert "private, loopback or link-local" in delivery.error


async def test_equal_open_event_is_not_sent_twice(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    assert await emit(world, clock.now, fingerprint="ssl_failure:shop:1") is not None
    assert await emit(world, clock.now, fingerprint="ssl_failure:shop:1") is None
    await dispatcher.run_once()
    assert len(receiver.requests) == 1


async def test_a_crashed_workers_claim_is_taken_over_after_the_lease(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    dispatcher: Dispatcher,
    settings: Settings,
    channels: dict[object, object],
    clock: Clock,
) -> None:
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None
    doomed = Dispatcher(
        world.db, settings, box, dispatcher.channels, worker_id="doomed", clock=clock
    )
    assert len(await doomed._claim(clock.now, None, list(dispatcher.channels))) == 1

    assert (await dispatcher.run_once()).claimed == 0
    clock.advance(seconds=settings.notify_lease_seconds + 1)
    assert (await dispatcher.run_once()).sent == 1
    assert len(receiver.requests) == 1


async def test_a_disabled_connector_gets_nothing_and_the_change_is_audited(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    from sqlalchemy import select

    from core.audit.models import ActivityLog
    from core.notify.connectors import set_connector_status

    await webhook(world, box, receiver.url)
    await route(world, "hook")
    queued = await emit(world, clock.now)
    assert queued is not None

    await set_connector_status(world.db, world.tenant, "hook", ConnectorStatus.disabled)
    assert (await dispatcher.run_once()).cancelled == 1
    assert await emit(world, clock.now) is not None
    assert receiver.requests == []
    [step] = await steps_of(world, queued.id)
    assert (step.status, step.last_error) == (NotificationStatus.cancelled, "connector disabled")

    await set_connector_status(world.db, world.tenant, "hook", ConnectorStatus.active)
    async with world.db.tenant_uow(world.tenant.id) as session:
        changes = list(
            await session.scalars(
                select(ActivityLog)
                .where(ActivityLog.entity_type == "connector")
                .order_by(ActivityLog.id)
            )
        )
    assert [c.action for c in changes] == ["connector.add", "connector.disable", "connector.enable"]
    assert changes[1].before_json is not None
    assert changes[1].after_json is not None
    assert (changes[1].before_json["status"], changes[1].after_json["status"]) == (
        "active",
        "disabled",
    )
    assert "config_encrypted_json" not in changes[1].after_json
