"""The dead-letter list says the real reason for each step that reached nobody, in the
tenant's local time: no route (only when there was none), nobody to reach, a disabled
recipient, the channel's own refusal."""

from __future__ import annotations

from datetime import UTC, datetime

from core.crypto import SecretBox
from core.db.enums import AppRole, ConnectorType, NotificationStatus
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dead_letters import NO_ROUTE, list_dead_letters
from core.notify.dispatcher import Dispatcher
from core.tenancy.people import set_person_active
from core.tenancy.scope import console_unit
from tests.companies import new_branch, person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import emit, route, webhook
from tests.peers import SmtpServer, WebhookReceiver

EVENING = datetime(2026, 3, 6, 20, 30, tzinfo=UTC)
"""02:30 on 7 March in Dhaka."""


async def mail(world: World, box: SecretBox, smtp: SmtpServer) -> None:
    spec = ConnectorSpec(
        type=ConnectorType.email_smtp,
        name="mail",
        host="127.0.0.1",
        port=smtp.port,
        security="none",
        sender="intrex@notify.example",
    )
    await add_connector(world.db, box, world.tenant, spec, allow_private=True)


async def test_no_route_is_said_only_when_there_was_none(world: World, clock: Clock) -> None:
    event = await emit(world, clock.now)
    assert event is not None
    [letter] = await list_dead_letters(world.db, world.tenant)
    assert letter.reasons == [NO_ROUTE]
    assert letter.failures == []
    assert letter.branch_code == "DHK-01"
    assert letter.timezone == "Asia/Dhaka"


async def test_each_step_says_why_in_local_time(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    smtp: SmtpServer,
    dispatcher: Dispatcher,
    clock: Clock,
) -> None:
    clock.now = EVENING
    tenant = world.tenant
    nasrin = await person(
        world.db,
        tenant,
        AppRole.branch_manager,
        [world.branch],
        name="Nasrin Akter",
        email="nasrin@notify.example",
    )
    async with console_unit(world.db, tenant.id) as (session, actor):
        await set_person_active(session, actor, nasrin.user_id, False)
    await webhook(world, box, receiver.url)
    await mail(world, box, smtp)
    await route(world, "hook")
    await route(world, "mail", "gone@notify.example")
    await route(world, "mail", "nasrin@notify.example")
    smtp.mailbox.refuse.add("gone@notify.example")
    receiver.planned = [410]
    event = await emit(world, clock.now)
    assert event is not None

    report = await dispatcher.run_once()
    assert (report.dead, report.cancelled) == (2, 1)

    [letter] = await list_dead_letters(world.db, tenant)
    assert letter.event.id == event.id
    assert sorted(letter.reasons) == [
        "Nasrin Akter <nasrin@notify.example> (disabled) by email 'mail': recipient disabled "
        "(not sent, skipped 2026-03-07 02:30)",
        "gone@notify.example by email 'mail': recipient refused: gone@notify.example "
        "(1 attempt, gave up 2026-03-07 02:30)",
        "webhook 'hook': HTTP 410: nope (1 attempt, gave up 2026-03-07 02:30)",
    ]
    assert {f.status for f in letter.failures} == {
        NotificationStatus.dead_letter,
        NotificationStatus.cancelled,
    }
    assert not any("2026-03-06 20:30" in reason for reason in letter.reasons)
    assert letter.local(EVENING) == "2026-03-07 02:30"


async def test_nobody_to_reach_is_the_reason_not_no_route(
    world: World, box: SecretBox, dispatcher: Dispatcher, clock: Clock
) -> None:
    """A role route whose branch has no linked manager: the step looks for someone until its
    window ends, then dead-letters saying so (the issue's "no route matched" was wrong)."""
    north = await new_branch(world.db, world.tenant, "DHK-02", name="Dhaka North")
    await add_connector(
        world.db,
        box,
        world.tenant,
        ConnectorSpec(type=ConnectorType.telegram_bot, name="tg"),
        allow_private=True,
    )
    await route(world, "tg", "role:branch_manager")
    world.branch = north
    event = await emit(world, clock.now)
    assert event is not None

    await dispatcher.run_once()
    clock.advance(hours=2)
    await dispatcher.run_once()

    [letter] = await list_dead_letters(world.db, world.tenant)
    assert letter.event.id == event.id
    [reason] = letter.reasons
    assert reason.startswith(
        "every linked branch manager of DHK-02 on Telegram 'tg': "
        "nobody to reach: no linked branch_manager in DHK-02 (never sent, gave up "
    )
    assert NO_ROUTE not in reason
