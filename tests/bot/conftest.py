"""The bot end to end: a real aiogram Bot talking HTTP to the loopback Bot API stand-in,
updates fed through the real Dispatcher, the real database underneath.

`Conversation` plays one Telegram user: it sends messages and documents, presses buttons on
the messages the bot sent, and reads what the bot answered.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import create_bot, create_dispatcher
from bot.telegram import BotTelegramSender
from core.config import Settings
from core.crypto import SecretBox, generate_key
from core.db.enums import AppRole, ConnectorType, NotificationEventType, Severity
from core.db.session import Database
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher as NotifyDispatcher
from core.notify.dispatcher import DispatchReport
from core.notify.events import emit_event
from core.notify.models import NotificationEvent
from core.notify.routes import add_route
from core.notify.wiring import build_channels, close_channels
from core.ssl.checker import StaticResolver
from core.tenancy.invites import TelegramIdentity, redeem_invite
from core.tenancy.models import Branch
from tests.companies import Company, invite
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers, loopback_servers
from tests.telegram_stub import TelegramStub

RESOLVER = StaticResolver({"*.intrex.test": ["127.0.0.1"]})
_update_ids = itertools.count(1)
_telegram_ids = itertools.count(500_000)


@pytest.fixture
async def stub() -> AsyncIterator[TelegramStub]:
    server = TelegramStub()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("bot-pki"))


@pytest.fixture(scope="session")
def tls_servers() -> Iterator[LoopbackServers]:
    with loopback_servers() as running:
        yield running


@pytest.fixture
def bot_settings(stub: TelegramStub, pki: Pki, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        bot_token="123456:TEST-TOKEN-not-real",
        telegram_api_url=stub.base_url,
        allow_private_targets=True,
        ssl_ca_file=pki.ca_file,
        ssl_timeout_seconds=2,
        data_dir=tmp_path / "data",
        max_document_bytes=1024 * 1024,
    )


@dataclass
class BotWorld:
    db: Database
    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    stub: TelegramStub

    def restart(self) -> None:
        """A new dispatcher, as a restarted process (or another replica) would build."""
        self.dispatcher = create_dispatcher(self.db, self.settings, ssl_resolver=RESOLVER)


@pytest.fixture
async def world(
    private_db: Database, bot_settings: Settings, stub: TelegramStub
) -> AsyncIterator[BotWorld]:
    bot = create_bot(bot_settings)
    dispatcher = create_dispatcher(private_db, bot_settings, ssl_resolver=RESOLVER)
    yield BotWorld(private_db, bot_settings, bot, dispatcher, stub)
    await bot.session.close()


@dataclass
class Conversation:
    """One Telegram user talking to the bot."""

    world: BotWorld
    telegram_id: int = field(default_factory=lambda: next(_telegram_ids))
    name: str = "Rahim"
    language_code: str | None = None
    """What the person's Telegram client says it speaks (`bn`, `en-GB`, …)."""
    pressed: set[str] = field(default_factory=set)

    def _user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.telegram_id, "is_bot": False, "first_name": self.name}
        if self.language_code is not None:
            user["language_code"] = self.language_code
        return user

    def _chat(self) -> dict[str, Any]:
        return {"id": self.telegram_id, "type": "private", "first_name": self.name}

    async def feed(self, payload: dict[str, Any]) -> None:
        update = Update.model_validate({"update_id": next(_update_ids), **payload})
        await self.world.dispatcher.feed_update(self.world.bot, update)

    async def send(self, text: str) -> str:
        """Send a text; return the last thing the bot said in this chat."""
        before = len(self.world.stub.calls)
        await self.feed(
            {
                "message": {
                    "message_id": next(_update_ids),
                    "date": int(time.time()),
                    "chat": self._chat(),
                    "from": self._user(),
                    "text": text,
                }
            }
        )
        return self.last_reply(since=before)

    async def send_document(
        self, content: bytes, filename: str, mime: str = "application/pdf"
    ) -> str:
        file_id = f"f{uuid.uuid4().hex}"
        self.world.stub.add_file(file_id, content)
        before = len(self.world.stub.calls)
        await self.feed(
            {
                "message": {
                    "message_id": next(_update_ids),
                    "date": int(time.time()),
                    "chat": self._chat(),
                    "from": self._user(),
                    "document": {
                        "file_id": file_id,
                        "file_unique_id": f"u{file_id}",
                        "file_name": filename,
                        "mime_type": mime,
                        "file_size": len(content),
                    },
                }
            }
        )
        return self.last_reply(since=before)

    def everything_said(self) -> list[str]:
        """Every text the bot sent, edited or popped up in this chat, in order."""
        said = []
        for call in self.world.stub.calls:
            params = call.params
            to_me = int(params.get("chat_id", 0)) == self.telegram_id
            mine = str(params.get("callback_query_id", "")) in self.pressed
            if call.method in ("sendMessage", "editMessageText") and to_me:
                said.append(str(params.get("text", "")))
            elif call.method == "answerCallbackQuery" and params.get("text") and mine:
                said.append(str(params["text"]))
        return said

    def messages(self) -> list[dict[str, Any]]:
        """What the bot has shown in this chat, as it is now (after edits)."""
        return [m for (chat, _), m in self.world.stub.messages.items() if chat == self.telegram_id]

    def _unknown_message(self) -> dict[str, Any]:
        """A bot message the stand-in never saw: what a forged press may claim to be on."""
        return {
            "message_id": 1,
            "date": int(time.time()),
            "from": {"id": 1, "is_bot": True, "first_name": "Intrex"},
        }

    def last_message(self) -> dict[str, Any]:
        return self.messages()[-1]

    def last_reply(self, since: int = 0) -> str:
        for call in reversed(self.world.stub.calls[since:]):
            params = call.params
            if (
                call.method in ("sendMessage", "editMessageText")
                and int(params.get("chat_id", 0)) == self.telegram_id
            ):
                return str(params.get("text", ""))
            if call.method == "answerCallbackQuery" and params.get("text"):
                return str(params["text"])
        return ""

    def buttons(self, message: dict[str, Any] | None = None) -> list[tuple[str, str]]:
        markup = (message or self.last_message()).get("reply_markup") or {}
        return [
            (button["text"], button["callback_data"])
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]

    async def press(self, data: str, message: dict[str, Any] | None = None) -> str:
        """Press a button (by its callback data) on a message the bot sent."""
        shown = message or (self.last_message() if self.messages() else self._unknown_message())
        before = len(self.world.stub.calls)
        query_id = str(next(_update_ids))
        self.pressed.add(query_id)
        await self.feed(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(),
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": shown["message_id"],
                        "date": shown["date"],
                        "chat": self._chat(),
                        "from": shown["from"],
                        "text": shown.get("text", ""),
                    },
                }
            }
        )
        return self.last_reply(since=before)

    async def press_labelled(self, label_part: str, message: dict[str, Any] | None = None) -> str:
        for text, data in self.buttons(message):
            if label_part in text:
                return await self.press(data, message)
        raise AssertionError(f"no button with {label_part!r} in {self.buttons(message)}")


async def member(
    world: BotWorld,
    company: Company,
    role: AppRole,
    branch: Branch | None,
    name: str,
    *,
    language_code: str | None = None,
) -> Conversation:
    """A user invited and linked through the real services; returns their conversation."""
    person = Conversation(world, name=name, language_code=language_code)
    issued = await invite(
        world.db,
        company.tenant,
        role,
        [branch.code] if branch else None,
        email=f"{name.lower()}-{uuid.uuid4().hex[:4]}@acme.example",
        name=name,
    )
    await redeem_invite(
        world.db, issued.code, TelegramIdentity(user_id=person.telegram_id, full_name=name)
    )
    return person


async def telegram_alerts(
    world: BotWorld, company: Company, *, event_type: str, severity_min: str
) -> SecretBox:
    """A telegram_bot connector and a route to the branch managers; returns the key box."""
    box = SecretBox([generate_key()])
    await add_connector(
        world.db,
        box,
        company.tenant,
        ConnectorSpec(type=ConnectorType.telegram_bot, name="tg"),
        allow_private=False,
    )
    await add_route(
        world.db,
        company.tenant,
        connector_name="tg",
        event_type=event_type,
        severity_min=severity_min,
        recipient="role:branch_manager",
    )
    return box


async def ssl_alert(world: BotWorld, company: Company, fingerprint: str) -> NotificationEvent:
    """A critical failing-certificate alert of the company's DHK-01 (shop.acme.example)."""
    async with world.db.tenant_uow(company.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=company.tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.critical,
            fingerprint=fingerprint,
            payload={"host": "shop.acme.example", "port": 443, "status": "expired"},
            branch_id=company.dhaka.id,
        )
    assert event is not None
    return event


async def deliver(world: BotWorld, box: SecretBox) -> DispatchReport:
    """One dispatcher batch through the real Telegram connector and the stand-in."""
    channels = build_channels(world.settings, BotTelegramSender(world.bot))
    try:
        return await NotifyDispatcher(world.db, world.settings, box, channels).run_once()
    finally:
        await close_channels(channels)
