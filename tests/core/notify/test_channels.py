"""Email through a real aiosmtpd server and WhatsApp through a real HTTP peer on loopback."""

from __future__ import annotations

import json

from core.crypto import SecretBox
from core.db.enums import ConnectorType, NotificationStatus
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import deliveries_of, emit, route, subject_of
from tests.peers import SmtpServer, WebhookReceiver

MANAGER_MAIL = "manager@acme.example"


async def email_connector(world: World, box: SecretBox, smtp: SmtpServer) -> None:
    spec = ConnectorSpec(
        type=ConnectorType.email_smtp,
        name="mail",
        host="127.0.0.1",
        port=smtp.port,
        security="none",
        sender="intrex@acme.example",
    )
    await add_connector(world.db, box, world.tenant, spec, allow_private=True)


async def test_email_has_text_and_html(
    world: World, box: SecretBox, smtp: SmtpServer, dispatcher: Dispatcher, clock: Clock
) -> None:
    await email_connector(world, box, smtp)
    await route(world, "mail", MANAGER_MAIL)
    event = await emit(
        world, clock.now, payload={"host": "shop.example.com", "error_detail": "<b>"}
    )
    assert event is not None

    assert (await dispatcher.run_once()).sent == 1

    [message] = smtp.mailbox.messages
    assert message["To"] == MANAGER_MAIL
    assert message["From"] == "intrex@acme.example"
    assert (
        subject_of(message)
        == "[Intrex high] Certificate check failed: shop.example.com (head office)"
    )
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    assert b"Detail: <b>" in parts["text/plain"]
    assert b"&lt;b&gt;" in parts["text/html"]
    assert message["X-Intrex-Delivery"]


async def test_smtp_down_is_retried_until_it_is_back(
    world: World, box: SecretBox, smtp: SmtpServer, dispatcher: Dispatcher, clock: Clock
) -> None:
    await email_connector(world, box, smtp)
    await route(world, "mail", MANAGER_MAIL)
    event = await emit(world, clock.now)
    assert event is not None
    smtp.stop()

    assert (await dispatcher.run_once()).retried == 1
    smtp.start()
    clock.advance(minutes=1)
    assert (await dispatcher.run_once()).sent == 1

    first, second = await deliveries_of(world, event.id)
    assert first.delivery_status is NotificationStatus.failed
    assert first.error is not None
    assert first.error.startswith("SMTP unavailable")
    assert second.delivery_status is NotificationStatus.sent
    assert len(smtp.mailbox.messages) == 1


async def test_refused_recipient_is_permanent(
    world: World, box: SecretBox, smtp: SmtpServer, dispatcher: Dispatcher, clock: Clock
) -> None:
    await email_connector(world, box, smtp)
    await route(world, "mail", "gone@acme.example")
    smtp.mailbox.refuse.add("gone@acme.example")
    event = await emit(world, clock.now)
    assert event is not None

    assert (await dispatcher.run_once()).dead == 1
    [delivery] = await deliveries_of(world, event.id)
    assert delivery.error == "recipient refused: gone@acme.example"


async def test_whatsapp_cloud_api_message(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    spec = ConnectorSpec(
        type=ConnectorType.whatsapp_business,
        name="wa",
        phone_number_id="1234567890",
        access_token="EAAG-test-token",
        base_url=f"http://127.0.0.1:{receiver.port}/v21.0",
        template="intrex_alert",
        template_language="en_US",
        template_params="status,branch",
    )
    await add_connector(world.db, box, world.tenant, spec, allow_private=True)
    await route(world, "wa", "+8801712345678")
    assert await emit(world, clock.now) is not None

    assert (await dispatcher.run_once()).sent == 1

    [request] = receiver.requests
    assert request.path == "/v21.0/1234567890/messages"
    assert request.headers["Authorization"] == "Bearer EAAG-test-token"
    body = json.loads(request.body)
    assert body["messaging_product"] == "whatsapp"
    assert body["to"] == "8801712345678"
    assert body["type"] == "template"
    [component] = body["template"]["components"]
    assert [p["text"] for p in component["parameters"]] == ["expired", "DHK-01 — Dhaka"]
