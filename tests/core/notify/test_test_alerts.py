"""`intrex notify test` underneath: a test event is marked as one, waits each route's delay
unless told otherwise, and its recipients are named as people know them."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from core.crypto import SecretBox
from core.db.enums import AppRole, ConnectorType, NotificationEventType, NotificationStatus
from core.notify.addressees import Addressed, name_recipients
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dead_letters import list_dead_letters
from core.notify.dispatcher import Dispatcher
from core.notify.models import Connector, NotificationEvent
from core.notify.wiring import send_test_event
from core.tenancy.models import User
from core.tenancy.people import set_person_active
from core.tenancy.scope import console_unit
from tests.companies import new_branch, person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import event_of, route, steps_of, webhook
from tests.peers import WebhookReceiver


async def two_levels(world: World, box: SecretBox, receiver: WebhookReceiver) -> None:
    """A webhook now, and another after ten minutes if nobody has acknowledged."""
    await webhook(world, box, receiver.url, name="now")
    await webhook(world, box, f"{receiver.url}/later", name="later")
    await route(world, "now")
    await route(world, "later", delay_minutes=10)


async def test_a_test_alert_is_marked_and_waits_each_routes_delay(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await two_levels(world, box, receiver)

    event, steps = await send_test_event(world.db, world.tenant, now=clock.now)

    assert event.is_test is True
    async with world.db.tenant_uow(world.tenant.id) as session:
        stored = await session.scalar(
            select(NotificationEvent.is_test).where(NotificationEvent.id == event.id)
        )
    assert stored is True
    assert event.event_type is NotificationEventType.ssl_failure
    assert [(s.level, s.next_attempt_at - clock.now) for s in steps] == [
        (1, timedelta(0)),
        (2, timedelta(minutes=10)),
    ]
    assert (await dispatcher.run_once()).sent == 1
    [first] = receiver.requests
    assert first.path == "/hook"
    body = json.loads(first.body)
    assert body["test"] is True
    assert body["payload"]["test"] is True
    assert (body["entity"], body["timing"], body["branch"]) == (None, None, None)

    clock.advance(minutes=9)
    assert (await dispatcher.run_once()).claimed == 0
    clock.advance(minutes=1)
    assert (await dispatcher.run_once()).sent == 1
    assert [r.path for r in receiver.requests] == ["/hook", "/hook/later"]


async def test_now_makes_every_step_due_at_once(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    await two_levels(world, box, receiver)

    event, steps = await send_test_event(
        world.db, world.tenant, branch_code="DHK-01", all_now=True, now=clock.now
    )

    assert event.is_test is True
    assert [s.next_attempt_at for s in steps] == [clock.now, clock.now]
    assert (await dispatcher.run_once()).sent == 2
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/hook/later"]
    body = json.loads(receiver.requests[0].body)
    assert body["branch"] == {"code": "DHK-01", "name": "Dhaka"}
    assert body["subject"] == (
        "[Intrex high] Intrex test alert for DHK-01: if you can read this, the route works"
    )
    assert "Branch: DHK-01 — Dhaka" in body["text"]


async def test_a_test_that_matches_no_route_is_no_dead_letter(world: World, clock: Clock) -> None:
    event, steps = await send_test_event(world.db, world.tenant, now=clock.now)
    assert steps == []
    assert (await event_of(world, event.id)).status is NotificationStatus.cancelled
    assert await list_dead_letters(world.db, world.tenant) == []


async def test_recipients_are_named_as_people_know_them(
    world: World, box: SecretBox, receiver: WebhookReceiver, clock: Clock
) -> None:
    tenant = world.tenant
    other = await new_branch(world.db, tenant, "DHK-02", name="Dhaka North")
    karim = await person(
        world.db,
        tenant,
        AppRole.branch_manager,
        [world.branch],
        name="Karim Ahmed",
        email="karim@notify.example",
        telegram_user_id=7001,
    )
    gone = await person(
        world.db, tenant, AppRole.operator, [other], name="Rafiq", email="rafiq@notify.example"
    )
    async with world.db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(User).where(User.id == karim.user_id).values(telegram_username="karim_dhk")
        )
    async with console_unit(world.db, tenant.id) as (session, actor):
        await set_person_active(session, actor, gone.user_id, False)
    await add_connector(
        world.db,
        box,
        tenant,
        ConnectorSpec(type=ConnectorType.telegram_bot, name="tg"),
        allow_private=True,
    )
    await add_connector(
        world.db,
        box,
        tenant,
        ConnectorSpec(
            type=ConnectorType.email_smtp,
            name="mail",
            host="127.0.0.1",
            port=2525,
            security="none",
            sender="intrex@notify.example",
        ),
        allow_private=True,
    )
    await webhook(world, box, receiver.url, name="hook")
    await route(world, "tg", "karim@notify.example")
    await route(world, "tg", "role:branch_manager", delay_minutes=5)
    await route(world, "mail", "ops@x.example")
    await route(world, "mail", "karim@notify.example", delay_minutes=10)
    await route(world, "hook")

    event, _ = await send_test_event(world.db, tenant, branch_code="DHK-01", now=clock.now)
    steps = await steps_of(world, event.id)
    kinds = {"tg": ConnectorType.telegram_bot, "mail": ConnectorType.email_smtp}
    async with world.db.tenant_uow(tenant.id) as session:
        connectors = {c.id: c for c in await session.scalars(select(Connector))}
        words = await name_recipients(
            session,
            [
                Addressed(
                    tenant.id,
                    s.recipient_ref,
                    connectors[s.connector_id].name,
                    connectors[s.connector_id].type,
                    "DHK-01",
                )
                for s in steps
            ],
        )
        extra = await name_recipients(
            session,
            [
                Addressed(tenant.id, f"user:{gone.user_id}", "tg", kinds["tg"], "DHK-02"),
                Addressed(tenant.id, "role:branch_manager", "tg", kinds["tg"], None),
                Addressed(tenant.id, "role:head_office_admin", "tg", kinds["tg"], "DHK-02"),
                Addressed(tenant.id, "group:DHK-02", "tg", kinds["tg"], "DHK-02"),
                Addressed(tenant.id, "owner", "tg", kinds["tg"], "DHK-02"),
                Addressed(tenant.id, "+8801712345678", "wa", ConnectorType.whatsapp_business, None),
            ],
        )
    assert sorted(words) == sorted(
        [
            "Karim Ahmed (@karim_dhk) on Telegram 'tg'",
            "every linked branch manager of DHK-01 on Telegram 'tg'",
            "ops@x.example by email 'mail'",
            "Karim Ahmed (@karim_dhk) <karim@notify.example> by email 'mail'",
            "webhook 'hook'",
        ]
    )
    assert extra == [
        "Rafiq (disabled) on Telegram 'tg'",
        "every linked head office admin (the alert belongs to no branch) on Telegram 'tg'",
        "every linked head office admin on Telegram 'tg'",
        "every Telegram group linked to DHK-02 on Telegram 'tg'",
        "the obligation's owner in DHK-02 on Telegram 'tg'",
        "+8801712345678 on WhatsApp 'wa'",
    ]
    assert not any("user:" in said for said in words + extra)
