"""Recipients decided when each step is due (SPEC §4): people who link, join or come back in
time get the alert; someone who links late gets the still-open ones once; nobody to reach
waits, then says why; what belongs to no branch reaches head office; groups and owners."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import (
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    Severity,
)
from core.notify.ack import acknowledge
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.events import emit_event
from core.notify.models import BranchGroup, NotificationEvent
from core.notify.recipients import catch_up
from core.notify.routing import OWNER_HEAD_START
from core.notify.wiring import build_channels, close_channels
from core.obligations.models import ObligationInstance
from core.tenancy.invites import TelegramIdentity, redeem_invite
from core.tenancy.people import set_person_active
from core.tenancy.scope import console_unit
from tests.companies import Company, invite, obligation, person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import emit, route, steps_of
from tests.core.notify.test_escalation import RecordingTelegram


def chat() -> int:
    return 3 * 10**12 + uuid.uuid4().int % 10**12


@pytest.fixture
async def telegram(world: World, box: SecretBox) -> None:
    spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
    await add_connector(world.db, box, world.tenant, spec, allow_private=False)


@pytest.fixture
async def sent(
    world: World, box: SecretBox, settings: Settings, clock: Clock
) -> AsyncIterator[tuple[Dispatcher, RecordingTelegram]]:
    recorder = RecordingTelegram()
    channels: dict[Any, Any] = build_channels(settings, recorder)
    try:
        yield Dispatcher(world.db, settings, box, channels, clock=clock), recorder
    finally:
        await close_channels(channels)


def firm_of(world: World) -> Company:
    return Company(world.tenant, world.branch, world.branch)


async def test_a_manager_who_links_after_the_first_run_still_gets_the_alert(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    issued = await invite(world.db, world.tenant, AppRole.branch_manager, [world.branch.code])
    await route(world, "tg", "role:branch_manager")
    event = await emit(world, clock.now)
    assert event is not None

    first = await dispatcher.run_once()
    assert (first.sent, first.dead) == (0, 0)
    [waiting] = await steps_of(world, event.id)
    assert waiting.last_error == f"nobody to reach: no linked branch_manager in {world.branch.code}"

    telegram_id = chat()
    await redeem_invite(world.db, issued.code, TelegramIdentity(user_id=telegram_id), now=clock.now)
    clock.now += timedelta(minutes=1)
    second = await dispatcher.run_once()

    assert second.sent == 1
    assert [(chat_id, event_id) for chat_id, _, event_id in recorder.sent] == [
        (telegram_id, event.id)
    ]


async def test_who_links_after_the_alert_went_out_gets_it_once(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    first_chat = chat()
    await person(
        world.db, world.tenant, AppRole.branch_manager, [world.branch], telegram_user_id=first_chat
    )
    late = await invite(world.db, world.tenant, AppRole.branch_manager, [world.branch.code])
    await route(world, "tg", "role:branch_manager")
    event = await emit(world, clock.now)
    assert event is not None
    assert (await dispatcher.run_once()).sent == 1

    late_chat = chat()
    await redeem_invite(world.db, late.code, TelegramIdentity(user_id=late_chat), now=clock.now)
    assert (await dispatcher.run_once()).sent == 1
    async with world.db.tenant_uow(world.tenant.id) as session:
        assert await catch_up(session, world.tenant.id, late.person.id, now=clock.now) == 0
    assert (await dispatcher.run_once()).sent == 0

    assert sorted(chat_id for chat_id, _, _ in recorder.sent) == sorted([first_chat, late_chat])


async def test_an_alert_older_than_a_week_is_not_caught_up(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    await person(
        world.db, world.tenant, AppRole.branch_manager, [world.branch], telegram_user_id=chat()
    )
    late = await invite(world.db, world.tenant, AppRole.branch_manager, [world.branch.code])
    await route(world, "tg", "role:branch_manager")
    event = await emit(world, clock.now)
    assert event is not None
    await dispatcher.run_once()
    async with world.db.system_uow() as session:
        await session.execute(
            update(NotificationEvent)
            .where(NotificationEvent.id == event.id)
            .values(created_at=NotificationEvent.created_at - timedelta(days=8))
        )

    await redeem_invite(world.db, late.code, TelegramIdentity(user_id=chat()), now=clock.now)

    assert (await dispatcher.run_once()).sent == 0
    assert len(recorder.sent) == 1


async def test_someone_re_enabled_gets_the_open_alerts_of_their_scope(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    await person(
        world.db, world.tenant, AppRole.branch_manager, [world.branch], telegram_user_id=chat()
    )
    away_chat = chat()
    away = await person(
        world.db, world.tenant, AppRole.branch_manager, [world.branch], telegram_user_id=away_chat
    )
    async with console_unit(world.db, world.tenant.id) as (session, actor):
        await set_person_active(session, actor, away.user_id, False)
    await route(world, "tg", "role:branch_manager")
    event = await emit(world, clock.now)
    assert event is not None
    assert (await dispatcher.run_once()).sent == 1

    async with console_unit(world.db, world.tenant.id) as (session, actor):
        await set_person_active(session, actor, away.user_id, True)
    clock.now += timedelta(seconds=5)  # the catch-up is due at the real moment of enabling
    assert (await dispatcher.run_once()).sent == 1
    assert away_chat in [chat_id for chat_id, _, _ in recorder.sent]


async def test_what_belongs_to_no_branch_reaches_head_office(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    admin_chat = chat()
    await person(world.db, world.tenant, AppRole.head_office_admin, telegram_user_id=admin_chat)
    await person(
        world.db, world.tenant, AppRole.branch_manager, [world.branch], telegram_user_id=chat()
    )
    await route(world, "tg", "role:branch_manager")
    async with world.db.tenant_uow(world.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=world.tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.high,
            fingerprint=f"ssl_failure:{uuid.uuid4()}",
            payload={"host": "intranet.example", "port": 443, "status": "expired"},
            scheduled_for=clock.now,
        )
    assert event is not None

    assert (await dispatcher.run_once()).sent == 1
    assert [chat_id for chat_id, _, _ in recorder.sent] == [admin_chat]


async def test_a_group_of_the_branch_and_the_obligations_owner(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    group_chat = -chat()
    owner_chat = chat()
    owner = await person(
        world.db, world.tenant, AppRole.operator, [world.branch], telegram_user_id=owner_chat
    )
    async with world.db.tenant_uow(world.tenant.id) as session:
        session.add(
            BranchGroup(tenant_id=world.tenant.id, branch_id=world.branch.id, chat_id=group_chat)
        )
    instance_id = await obligation(
        world.db, firm_of(world), world.branch, "Fire drill", due_in_days=0, proof=False
    )
    async with world.db.tenant_uow(world.tenant.id) as session:
        await session.execute(
            update(ObligationInstance)
            .where(ObligationInstance.id == instance_id)
            .values(owner_user_id=owner.user_id)
        )
    await route(world, "tg", f"group:{world.branch.code.lower()}")
    await route(world, "tg", "owner")
    event = await emit(
        world,
        clock.now,
        payload={"obligation_instance_id": str(instance_id), "title": "Fire drill"},
    )
    assert event is not None

    assert (await dispatcher.run_once()).sent == 2
    assert sorted(chat_id for chat_id, _, _ in recorder.sent) == sorted([group_chat, owner_chat])
    refs = {step.recipient_ref: step for step in await steps_of(world, event.id)}
    assert refs[f"group:{world.branch.code}"].status is NotificationStatus.cancelled
    assert f"chat:{group_chat}" in refs
    async with world.db.tenant_uow(world.tenant.id) as session:
        groups = list(await session.scalars(select(BranchGroup.chat_id)))
    assert groups == [group_chat]


async def test_a_later_level_waits_for_its_time_and_then_finds_who_is_there(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    await route(world, "tg", "role:branch_manager")
    await route(world, "tg", "role:head_office_admin", delay_minutes=30)
    event = await emit(world, clock.now)
    assert event is not None
    await dispatcher.run_once()
    admin_chat = chat()
    await person(world.db, world.tenant, AppRole.head_office_admin, telegram_user_id=admin_chat)

    clock.now += timedelta(minutes=29)
    await dispatcher.run_once()
    assert recorder.sent == []
    steps = {step.recipient_ref: step for step in await steps_of(world, event.id)}
    assert steps["role:branch_manager"].status is NotificationStatus.queued

    clock.now += timedelta(minutes=2)
    await dispatcher.run_once()
    steps = {step.recipient_ref: step for step in await steps_of(world, event.id)}
    assert steps["role:branch_manager"].status is NotificationStatus.dead_letter
    assert [chat_id for chat_id, _, _ in recorder.sent] == [admin_chat]


async def _owned_reminder(world: World, clock: Clock) -> tuple[NotificationEvent, int, int, Any]:
    """An owned obligation's reminder with a linked owner and a linked branch manager routed
    by role: what `owner first` is about."""
    owner_chat, manager_chat = chat(), chat()
    owner = await person(
        world.db, world.tenant, AppRole.operator, [world.branch], telegram_user_id=owner_chat
    )
    await person(
        world.db,
        world.tenant,
        AppRole.branch_manager,
        [world.branch],
        telegram_user_id=manager_chat,
    )
    instance_id = await obligation(
        world.db, firm_of(world), world.branch, "Trade licence", due_in_days=7, proof=False
    )
    async with world.db.tenant_uow(world.tenant.id) as session:
        await session.execute(
            update(ObligationInstance)
            .where(ObligationInstance.id == instance_id)
            .values(owner_user_id=owner.user_id)
        )
    await route(world, "tg", "role:branch_manager")
    event = await emit(
        world,
        clock.now,
        event_type=NotificationEventType.obligation_due,
        payload={
            "obligation_instance_id": str(instance_id),
            "title": "Trade licence",
            "owner_user_id": owner.user_id,
        },
    )
    assert event is not None
    return event, owner_chat, manager_chat, owner


async def test_an_owned_reminder_goes_to_the_owner_first_then_by_the_routes(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    event, owner_chat, manager_chat, _ = await _owned_reminder(world, clock)

    assert (await dispatcher.run_once()).sent == 1
    assert [chat_id for chat_id, _, _ in recorder.sent] == [owner_chat]
    clock.now += OWNER_HEAD_START - timedelta(minutes=1)
    assert (await dispatcher.run_once()).sent == 0
    clock.now += timedelta(minutes=2)
    assert (await dispatcher.run_once()).sent == 1
    assert [chat_id for chat_id, _, _ in recorder.sent] == [owner_chat, manager_chat]
    levels = sorted((step.level, step.recipient_ref) for step in await steps_of(world, event.id))
    assert levels[0] == (1, "owner")


async def test_an_owner_who_acknowledges_in_time_keeps_the_routes_quiet(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    event, owner_chat, _, owner = await _owned_reminder(world, clock)
    assert (await dispatcher.run_once()).sent == 1
    async with owner(now=clock.now) as (session, actor):
        await acknowledge(session, actor, event.id)
    clock.now += OWNER_HEAD_START + timedelta(minutes=5)
    assert (await dispatcher.run_once()).sent == 0
    assert [chat_id for chat_id, _, _ in recorder.sent] == [owner_chat]


async def test_an_owner_nobody_can_reach_does_not_hold_the_routes_back(
    world: World, telegram: None, sent: tuple[Dispatcher, RecordingTelegram], clock: Clock
) -> None:
    dispatcher, recorder = sent
    _, _, manager_chat, owner = await _owned_reminder(world, clock)
    async with console_unit(world.db, world.tenant.id) as (session, actor):
        await set_person_active(session, actor, owner.user_id, active=False)
    await dispatcher.run_once()
    clock.now += timedelta(minutes=1)
    await dispatcher.run_once()
    assert [chat_id for chat_id, _, _ in recorder.sent] == [manager_chat]
