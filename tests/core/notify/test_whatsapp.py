"""WhatsApp alerts against the Cloud API stand-in: approved templates with the mapped alert
fields, the `wamid` on the delivery, and the signed status webhook that reports on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select

from cli.whatsapp_webhook import WHATSAPP_WEBHOOK_PATH, add_whatsapp_webhook
from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import (
    ConnectorStatus,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
)
from core.errors import ErrorCode, ValidationError
from core.notify.channels.whatsapp import NO_TEMPLATE, PARAMETERS_BUDGET
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.models import Connector, NotificationDelivery, NotificationEvent
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import deliveries_of, emit, route, steps_of
from tests.peers import free_port
from tests.whatsapp_stub import APP_SECRET, PHONE_NUMBER_ID, TOKEN, WhatsAppCloud

VERIFY_TOKEN = "verify-token-for-the-stand-in"
PHONE = "+8801712345678"
TEMPLATE = "intrex_alert"
BODY = "Intrex: {{1}}. Branch {{2}}, due {{3}}. Status: {{4}}."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "whatsapp_verify_token": SecretStr(VERIFY_TOKEN),
            "whatsapp_app_secret": SecretStr(APP_SECRET),
        }
    )


@pytest.fixture
async def cloud() -> AsyncIterator[WhatsAppCloud]:
    stand_in = WhatsAppCloud(templates={(TEMPLATE, "en_US"): BODY})
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}{WHATSAPP_WEBHOOK_PATH}"


@pytest.fixture
async def hook(world: World, settings: Settings) -> AsyncIterator[str]:
    """The status webhook as `intrex run` serves it, on its own loopback port."""
    app = web.Application()
    assert add_whatsapp_webhook(app, world.db, settings)
    runner, url = await serve(app)
    yield url
    await runner.cleanup()


async def whatsapp(
    world: World,
    box: SecretBox,
    cloud: WhatsAppCloud,
    params: str = "headline,branch,due,status",
    name: str = "wa",
) -> None:
    spec = ConnectorSpec(
        type=ConnectorType.whatsapp_business,
        name=name,
        phone_number_id=PHONE_NUMBER_ID,
        access_token=TOKEN,
        base_url=cloud.base_url,
        template=TEMPLATE,
        template_language="en_US",
        template_params=params,
    )
    await add_connector(world.db, box, world.tenant, spec, allow_private=True)
    await route(world, name, PHONE)


async def obligation_due(
    world: World, at: datetime, title: str = "Trade licence renewal"
) -> uuid.UUID:
    event = await emit(
        world,
        at,
        event_type=NotificationEventType.obligation_due,
        payload={
            "obligation_instance_id": str(uuid.uuid4()),
            "title": title,
            "due_at": "2026-03-15",
            "days_left": 3,
            "status": "upcoming",
            "branch_code": world.branch.code,
            "branch_name": world.branch.name,
        },
    )
    assert event is not None
    return event.id


async def delivery_of(world: World, event_id: uuid.UUID) -> NotificationDelivery:
    [delivery] = await deliveries_of(world, event_id)
    return delivery


async def sent_alert(
    world: World, box: SecretBox, cloud: WhatsAppCloud, dispatcher: Dispatcher, clock: Clock
) -> tuple[uuid.UUID, str]:
    """An obligation alert delivered through the stand-in: its event and `wamid`."""
    await whatsapp(world, box, cloud)
    event_id = await obligation_due(world, clock.now)
    assert (await dispatcher.run_once()).sent == 1
    [accepted] = cloud.accepted
    return event_id, accepted.id


async def test_an_alert_is_the_template_with_its_mapped_fields_in_order(
    world: World, box: SecretBox, cloud: WhatsAppCloud, dispatcher: Dispatcher, clock: Clock
) -> None:
    event_id, wamid = await sent_alert(world, box, cloud, dispatcher, clock)

    [body] = cloud.requests
    assert body["type"] == "template"
    assert body["to"] == "8801712345678"
    assert "text" not in body
    template = body["template"]
    assert template["name"] == TEMPLATE
    assert template["language"] == {"code": "en_US"}
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Due soon: Trade licence renewal (DHK-01)"},
                {"type": "text", "text": "DHK-01 — Dhaka"},
                {"type": "text", "text": "15 Mar 2026"},
                {"type": "text", "text": "upcoming"},
            ],
        }
    ]
    assert cloud.accepted[0].text == (
        "Intrex: Due soon: Trade licence renewal (DHK-01). Branch DHK-01 — Dhaka, "
        "due 15 Mar 2026. Status: upcoming."
    )
    delivery = await delivery_of(world, event_id)
    assert delivery.provider_message_id == wamid
    assert delivery.delivery_status is NotificationStatus.sent


async def test_a_certificate_expiry_is_the_tenants_local_date(
    world: World, box: SecretBox, cloud: WhatsAppCloud, dispatcher: Dispatcher, clock: Clock
) -> None:
    cloud.templates[(TEMPLATE, "en_US")] = "{{1}} expires {{2}} ({{3}})."
    await whatsapp(world, box, cloud, params="title,due,days")
    event = await emit(
        world,
        clock.now,
        event_type=NotificationEventType.ssl_expiry,
        payload={
            "host": "shop.example.com",
            "port": 8443,
            "status": "warning",
            "valid_to": "2026-03-01T20:30:00+00:00",
            "days_remaining": 7,
        },
    )
    assert event is not None

    assert (await dispatcher.run_once()).sent == 1

    # 20:30 UTC on 1 March is already 2 March in Dhaka (UTC+6).
    assert (
        cloud.accepted[0].text == "shop.example.com:8443 expires 02 Mar 2026 (Expires in 7 days)."
    )


async def test_parameters_are_put_on_one_line_and_cut_to_fit(
    world: World, box: SecretBox, cloud: WhatsAppCloud, dispatcher: Dispatcher, clock: Clock
) -> None:
    await whatsapp(world, box, cloud)
    title = "Trade\tlicence\n\nrenewal      now " + "x" * 3000
    await obligation_due(world, clock.now, title=title)

    assert (await dispatcher.run_once()).sent == 1

    [accepted] = cloud.accepted
    values = [p["text"] for p in accepted.body["template"]["components"][0]["parameters"]]
    headline = values[0]
    assert headline.startswith("Due soon: Trade licence renewal now xxx")
    assert headline.endswith("…")
    assert "\n" not in headline
    assert "\t" not in headline
    assert "  " not in headline
    assert values[1:] == ["DHK-01 — Dhaka", "15 Mar 2026", "upcoming"]
    assert sum(len(value) for value in values) <= PARAMETERS_BUDGET


async def test_a_parameter_count_the_template_does_not_have_is_a_dead_letter(
    world: World, box: SecretBox, cloud: WhatsAppCloud, dispatcher: Dispatcher, clock: Clock
) -> None:
    await whatsapp(world, box, cloud, params="headline,branch")
    event_id = await obligation_due(world, clock.now)

    assert (await dispatcher.run_once()).dead == 1

    delivery = await delivery_of(world, event_id)
    assert delivery.error is not None
    assert delivery.error.startswith("HTTP 400: WhatsApp error 132000: Number of parameters")
    assert cloud.accepted == []


async def test_the_stand_in_refuses_text_outside_the_customer_window(
    cloud: WhatsAppCloud,
) -> None:
    """Why alerts are templates: free text reaches only someone who wrote in the last 24 h."""
    message = {
        "messaging_product": "whatsapp",
        "to": "8801712345678",
        "type": "text",
        "text": {"body": "Overdue: Trade licence renewal"},
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{cloud.base_url}/{PHONE_NUMBER_ID}/messages"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=message, headers=headers) as response:
            refused = response.status, await response.json()
        cloud.open_windows.add("8801712345678")
        async with http.post(url, json=message, headers=headers) as response:
            accepted = response.status, await response.json()
        async with http.post(url, json=message, headers={"Authorization": "Bearer x"}) as answer:
            unauthorised = answer.status

    assert refused[0] == 400
    assert refused[1]["error"]["code"] == 131047
    assert "Re-engagement message" in refused[1]["error"]["message"]
    assert accepted[0] == 200
    assert accepted[1]["messages"][0]["id"].startswith("wamid.")
    assert unauthorised == 401


async def test_signed_status_callbacks_move_the_delivery_forward(
    world: World,
    box: SecretBox,
    cloud: WhatsAppCloud,
    dispatcher: Dispatcher,
    clock: Clock,
    hook: str,
) -> None:
    event_id, wamid = await sent_alert(world, box, cloud, dispatcher, clock)
    delivered_at = int(datetime(2026, 3, 12, 4, 0, tzinfo=UTC).timestamp())

    assert (await cloud.post_status(hook, wamid, "delivered", timestamp=delivered_at))[0] == 200
    delivery = await delivery_of(world, event_id)
    assert delivery.provider_status == "delivered"
    assert delivery.provider_status_at == datetime(2026, 3, 12, 4, 0, tzinfo=UTC)

    assert (await cloud.post_status(hook, wamid, "read", timestamp=delivered_at + 60))[0] == 200
    # Late and repeated callbacks change nothing: a message once read stays read.
    assert (await cloud.post_status(hook, wamid, "delivered", timestamp=delivered_at))[0] == 200
    assert (await cloud.post_status(hook, wamid, "sent", timestamp=delivered_at - 60))[0] == 200

    delivery = await delivery_of(world, event_id)
    assert delivery.provider_status == "read"
    assert delivery.provider_status_at == datetime(2026, 3, 12, 4, 1, tzinfo=UTC)
    assert delivery.provider_error is None
    assert delivery.delivery_status is NotificationStatus.sent


async def test_unsigned_or_wrongly_signed_callbacks_are_refused_and_change_nothing(
    world: World,
    box: SecretBox,
    cloud: WhatsAppCloud,
    dispatcher: Dispatcher,
    clock: Clock,
    hook: str,
) -> None:
    event_id, wamid = await sent_alert(world, box, cloud, dispatcher, clock)
    other_body = cloud.callback(wamid, "read", timestamp=1)

    for attempt in (
        {"secret": None},
        {"secret": "not-the-app-secret"},
        {"signature": "sha256=" + "0" * 64},
        {"signature": "sha256=nothex"},
        {"signature": cloud.signature(APP_SECRET, other_body)},
        {"signature": cloud.signature(APP_SECRET, other_body).removeprefix("sha256=")},
    ):
        status, _ = await cloud.post_status(hook, wamid, "failed", error=(131026, "x"), **attempt)
        assert status == 401, attempt

    delivery = await delivery_of(world, event_id)
    assert delivery.provider_status is None
    assert delivery.provider_status_at is None
    [step] = await steps_of(world, event_id)
    assert step.status is NotificationStatus.sent


async def test_meta_verifies_the_subscription_with_the_token(hook: str) -> None:
    subscribe = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    async with aiohttp.ClientSession() as http:
        async with http.get(hook, params=subscribe | {"hub.verify_token": VERIFY_TOKEN}) as ok:
            assert ok.status == 200
            assert await ok.text() == "1158201444"
        for wrong in (
            subscribe | {"hub.verify_token": "guess"},
            subscribe,
            {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN},
        ):
            async with http.get(hook, params=wrong) as refused:
                assert refused.status == 403
                assert "1158201444" not in await refused.text()


async def test_the_webhook_is_off_without_its_settings(world: World) -> None:
    app = web.Application()
    assert not add_whatsapp_webhook(
        app, world.db, Settings(_env_file=None, whatsapp_app_secret=SecretStr(APP_SECRET))
    )
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url, params={"hub.mode": "subscribe"}) as answer:
                assert answer.status == 404
            async with http.post(url, data=b"{}") as answer:
                assert answer.status == 404
    finally:
        await runner.cleanup()


async def test_a_temporary_failure_sends_the_step_again_once(
    world: World,
    box: SecretBox,
    cloud: WhatsAppCloud,
    dispatcher: Dispatcher,
    clock: Clock,
    hook: str,
) -> None:
    event_id, wamid = await sent_alert(world, box, cloud, dispatcher, clock)

    wakes = []
    for _repeat in range(2):
        answer = await cloud.post_status(hook, wamid, "failed", error=(130429, "Rate limit hit"))
        assert answer[0] == 200
        [step] = await steps_of(world, event_id)
        assert step.status is NotificationStatus.failed
        assert step.attempts == 1
        assert "130429" in (step.last_error or "")
        wakes.append(step.next_attempt_at)
    first_wake, second_wake = wakes
    assert second_wake == first_wake > clock.now

    delivery = await delivery_of(world, event_id)
    assert delivery.provider_status == "failed"
    assert (
        delivery.provider_error
        == "WhatsApp error 130429: Rate limit hit: Rate limit hit (stand-in)"
    )
    assert delivery.delivery_status is NotificationStatus.failed

    clock.now = max(clock.now, first_wake) + timedelta(seconds=1)
    assert (await dispatcher.run_once()).sent == 1
    _first, second = await deliveries_of(world, event_id)
    assert second.attempt_no == 2
    assert second.provider_message_id == cloud.accepted[1].id != wamid
    [step] = await steps_of(world, event_id)
    assert step.status is NotificationStatus.sent
    assert step.attempts == 2
    assert len(cloud.accepted) == 2


async def test_a_lasting_failure_is_a_dead_letter_with_whatsapps_reason(
    world: World,
    box: SecretBox,
    cloud: WhatsAppCloud,
    dispatcher: Dispatcher,
    clock: Clock,
    hook: str,
) -> None:
    event_id, wamid = await sent_alert(world, box, cloud, dispatcher, clock)

    await cloud.post_status(hook, wamid, "failed", error=(131026, "Message undeliverable"))

    [step] = await steps_of(world, event_id)
    assert step.status is NotificationStatus.dead_letter
    assert step.last_error == (
        "WhatsApp error 131026: Message undeliverable: Message undeliverable (stand-in)"
    )
    delivery = await delivery_of(world, event_id)
    assert delivery.delivery_status is NotificationStatus.dead_letter
    async with world.db.tenant_uow(world.tenant.id) as session:
        event = await session.get(NotificationEvent, event_id)
        assert event is not None
        assert event.status is NotificationStatus.dead_letter
    clock.advance(hours=2)
    assert (await dispatcher.run_once()).claimed == 0
    assert len(cloud.accepted) == 1


async def test_a_connector_from_before_templates_is_refused_at_send(
    world: World, box: SecretBox, cloud: WhatsAppCloud, dispatcher: Dispatcher, clock: Clock
) -> None:
    legacy = {"phone_number_id": PHONE_NUMBER_ID, "access_token": TOKEN, "base_url": cloud.base_url}
    async with world.db.tenant_uow(world.tenant.id) as session:
        session.add(
            Connector(
                tenant_id=world.tenant.id,
                type=ConnectorType.whatsapp_business,
                name="old-wa",
                status=ConnectorStatus.active,
                config_encrypted_json=box.encrypt_json(legacy),
            )
        )
    await route(world, "old-wa", PHONE)
    event_id = await obligation_due(world, clock.now)

    assert (await dispatcher.run_once()).dead == 1

    delivery = await delivery_of(world, event_id)
    assert delivery.error == NO_TEMPLATE
    assert cloud.requests == []


@pytest.mark.parametrize(
    ("options", "code", "detail"),
    [
        ({"template_params": "headline,colour"}, ErrorCode.value_unknown, "colour"),
        ({"template": None}, ErrorCode.connector_option_required, "--template"),
        ({"template_language": None}, ErrorCode.connector_option_required, "--template-language"),
        ({"template": "Intrex Alert"}, ErrorCode.whatsapp_template_name_invalid, None),
        ({"template_language": "english"}, ErrorCode.whatsapp_template_language_invalid, None),
    ],
)
async def test_a_template_is_checked_when_the_connector_is_added(
    world: World,
    box: SecretBox,
    options: dict[str, str | None],
    code: ErrorCode,
    detail: str | None,
) -> None:
    fields = {
        "template": TEMPLATE,
        "template_language": "en_US",
        "template_params": "headline,due",
    } | options
    spec = ConnectorSpec(
        type=ConnectorType.whatsapp_business,
        name="wa",
        phone_number_id=PHONE_NUMBER_ID,
        access_token=TOKEN,
        template=fields["template"],
        template_language=fields["template_language"],
        template_params=fields["template_params"],
    )
    with pytest.raises(ValidationError) as refused:
        await add_connector(world.db, box, world.tenant, spec, allow_private=True)
    assert refused.value.code is code
    if detail is not None:
        assert detail in refused.value.params.values()
    if code is ErrorCode.value_unknown:
        assert refused.value.params["choices"].startswith("headline, severity, branch")
    async with world.db.tenant_uow(world.tenant.id) as session:
        assert await session.scalar(select(Connector.id)) is None
