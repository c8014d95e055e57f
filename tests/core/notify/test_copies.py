"""Editing every delivered copy of an ended alert: once per copy, whichever worker does it,
retried when Telegram says wait, and in each reader's language."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import AppRole, ConnectorType, Language
from core.notify.channels.base import DeliveryError
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.events import resolve_events
from core.notify.models import TelegramEdit
from core.notify.wiring import build_channels, close_channels
from core.tenancy.models import User
from tests.companies import person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import emit, route
from tests.core.notify.test_escalation import RecordingTelegram


def chat() -> int:
    return 4 * 10**12 + uuid.uuid4().int % 10**12


@dataclass
class ThrottledTelegram(RecordingTelegram):
    """Says "retry after" to the first edit of each copy, as Telegram does under load."""

    refused: set[tuple[int, int]] = field(default_factory=set)

    async def edit_alert(self, chat_id: int, message_id: int, text: str) -> None:
        if (chat_id, message_id) not in self.refused:
            self.refused.add((chat_id, message_id))
            raise DeliveryError("Telegram rate limit: retry after 3s", permanent=False)
        await super().edit_alert(chat_id, message_id, text)


async def managers(world: World, count: int) -> list[int]:
    chats = [chat() for _ in range(count)]
    for number, telegram_id in enumerate(chats):
        units = await person(
            world.db,
            world.tenant,
            AppRole.branch_manager,
            [world.branch],
            telegram_user_id=telegram_id,
            name=f"Manager {number}",
        )
        if number == 0:
            async with world.db.tenant_uow(world.tenant.id) as session:
                user = await session.get_one(User, units.user_id)
                user.language = Language.bn.value
    return chats


async def test_two_workers_edit_each_copy_exactly_once(
    world: World, box: SecretBox, settings: Settings, clock: Clock
) -> None:
    spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
    await add_connector(world.db, box, world.tenant, spec, allow_private=False)
    chats = await managers(world, 30)
    await route(world, "tg", "role:branch_manager")
    event = await emit(world, clock.now, fingerprint="ssl_failure:shop:copies")
    assert event is not None
    recorder = RecordingTelegram()
    channels: dict[Any, Any] = build_channels(settings, recorder)
    try:
        first = Dispatcher(world.db, settings, box, channels, clock=clock, worker_id="one")
        second = Dispatcher(world.db, settings, box, channels, clock=clock, worker_id="two")
        await first.run_once()
        assert len(recorder.sent) == 30
        async with world.db.tenant_uow(world.tenant.id) as session:
            await resolve_events(
                session,
                tenant_id=world.tenant.id,
                fingerprint="ssl_failure:shop:copies",
                resolution="recovered",
            )
        clock.advance(seconds=5)  # edits are due from the database's now, after the fixture's
        for _ in range(3):
            await asyncio.gather(first.run_once(), second.run_once())
    finally:
        await close_channels(channels)

    edited = [(chat_id, message_id) for chat_id, message_id, _ in recorder.edited]
    assert len(edited) == len(set(edited)) == 30
    assert {chat_id for chat_id, _ in edited} == set(chats)
    texts = {chat_id: text for chat_id, _, text in recorder.edited}
    assert "✅ Resolved: the certificate check passes again" in texts[chats[1]]
    assert "✅ সমাধান হয়েছে" in texts[chats[0]]
    async with world.db.tenant_uow(world.tenant.id) as session:
        statuses = list(await session.scalars(select(TelegramEdit.status)))
    assert statuses == ["done"] * 30


async def test_an_edit_telegram_throttles_is_retried_later(
    world: World, box: SecretBox, settings: Settings, clock: Clock
) -> None:
    spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
    await add_connector(world.db, box, world.tenant, spec, allow_private=False)
    await managers(world, 2)
    await route(world, "tg", "role:branch_manager")
    event = await emit(world, clock.now, fingerprint="ssl_failure:shop:throttled")
    assert event is not None
    recorder = ThrottledTelegram()
    channels: dict[Any, Any] = build_channels(settings, recorder)
    try:
        dispatcher = Dispatcher(world.db, settings, box, channels, clock=clock)
        await dispatcher.run_once()
        async with world.db.tenant_uow(world.tenant.id) as session:
            await resolve_events(
                session,
                tenant_id=world.tenant.id,
                fingerprint="ssl_failure:shop:throttled",
                resolution="recovered",
            )
        clock.advance(seconds=5)
        assert (await dispatcher.run_once()).edited == 0
        async with world.db.tenant_uow(world.tenant.id) as session:
            waiting = list(await session.scalars(select(TelegramEdit)))
        assert [edit.status for edit in waiting] == ["pending", "pending"]
        assert all("retry after" in (edit.last_error or "") for edit in waiting)
        clock.advance(seconds=31)
        assert (await dispatcher.run_once()).edited == 2
    finally:
        await close_channels(channels)
