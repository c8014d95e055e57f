"""Assembling the bot: the aiogram Bot (pointed at TELEGRAM_API_URL), the Dispatcher, the menu."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand

from bot.i18n import CatalogueI18n, LanguageMiddleware
from bot.metrics import MetricsMiddleware
from bot.middlewares import ContextMiddleware, InFlightMiddleware
from bot.routers import all_routers
from bot.storage import PostgresStorage
from bot.uploads import PendingUploads
from core.config import Settings
from core.db.enums import Language
from core.db.session import Database
from core.errors import ConfigurationError, ErrorCode
from core.i18n import N_, texts_for
from core.ssl.checker import Resolver
from core.storage import DocumentStorage, local_storage

COMMANDS = [
    ("obligations", N_("Open obligations: overdue, today, week, all")),
    ("alerts", N_("Unacknowledged alerts")),
    ("domains", N_("Monitored certificates")),
    ("digest", N_("Today's summary")),
    ("report", N_("Health of the branches, with a chart (managers, head office)")),
    ("export", N_("Obligations, domains, audit or deliveries as a spreadsheet")),
    ("dashboard", N_("The web dashboard: sign-in link and your calendar feed")),
    ("audit", N_("Who changed what (head office)")),
    ("check", N_("Check a certificate now")),
    ("adddomain", N_("Monitor a certificate (head office)")),
    ("removedomain", N_("Stop monitoring (head office)")),
    ("users", N_("People: roles, branches, status (managers, head office)")),
    ("invites", N_("Open invites, to revoke (head office)")),
    ("invite", N_("Invite a colleague (head office)")),
    ("templates", N_("Obligation templates and the catalogue (head office)")),
    ("language", N_("English or বাংলা")),
    ("help", N_("What you can do")),
]


MAX_INLINE_WAIT = 5.0
"""A 429 asking for at most this many seconds is waited out, once, where it happened."""


class WaitOutShortFloodControl(BaseRequestMiddleware):
    """Telegram's flood control on a reply: a 429 with a short `retry_after` is waited out
    and the request made once more, so a burst of replies is late rather than lost. A long
    wait, or a second 429, reaches the caller: the alert sender then defers the step and
    holds the chat's shared budget (`core/notify/pacing.py`)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as exc:
            if exc.retry_after > MAX_INLINE_WAIT:
                raise
            await asyncio.sleep(exc.retry_after)
        return await make_request(bot, method)


def create_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ConfigurationError(ErrorCode.bot_token_missing)
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(WaitOutShortFloodControl())
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_dispatcher(
    db: Database,
    settings: Settings,
    *,
    storage: PostgresStorage | None = None,
    documents: DocumentStorage | None = None,
    ssl_resolver: Resolver | None = None,
    in_flight: InFlightMiddleware | None = None,
) -> Dispatcher:
    """Routers, middlewares, the catalogues and PostgreSQL-backed conversation state."""
    conversations = storage or PostgresStorage(db)
    files = documents or local_storage(settings)
    i18n = CatalogueI18n()
    dispatcher = Dispatcher(
        storage=conversations, disable_fsm=True, ssl_resolver=ssl_resolver, i18n=i18n
    )
    if in_flight is not None:
        dispatcher.update.outer_middleware(in_flight)
    dispatcher.update.outer_middleware(MetricsMiddleware())
    dispatcher.update.outer_middleware(
        ContextMiddleware(db, settings, dispatcher.fsm, conversations, files)
    )
    dispatcher.update.outer_middleware(dispatcher.fsm)
    LanguageMiddleware(i18n).setup(dispatcher)
    dispatcher.include_routers(*all_routers())
    uploads: dict[str, PendingUploads] = {}

    async def start_pending_uploads(bot: Bot, **_: Any) -> None:
        worker = PendingUploads(bot, db, settings, files, i18n)
        uploads["worker"] = worker
        worker.start()

    async def stop_pending_uploads(**_: Any) -> None:
        if "worker" in uploads:
            await uploads.pop("worker").stop()

    dispatcher.startup.register(start_pending_uploads)
    dispatcher.shutdown.register(stop_pending_uploads)
    return dispatcher


async def set_commands(bot: Bot) -> None:
    """The command menu, in English for everyone and in Bengali for Bengali clients."""
    for language in Language:
        texts = texts_for(language)
        await bot.set_my_commands(
            [BotCommand(command=name, description=texts.gettext(text)) for name, text in COMMANDS],
            language_code=None if language is Language.en else language.value,
        )
