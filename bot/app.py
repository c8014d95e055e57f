"""Assembling the bot: the aiogram Bot (pointed at TELEGRAM_API_URL), the Dispatcher, the menu."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand

from bot.metrics import MetricsMiddleware
from bot.middlewares import ContextMiddleware, InFlightMiddleware
from bot.routers import all_routers
from bot.storage import PostgresStorage
from core.config import Settings
from core.db.session import Database
from core.errors import ConfigurationError
from core.ssl.checker import Resolver

COMMANDS = [
    BotCommand(command="obligations", description="Open obligations: overdue, today, week, all"),
    BotCommand(command="alerts", description="Unacknowledged alerts"),
    BotCommand(command="domains", description="Monitored certificates"),
    BotCommand(command="digest", description="Today's summary"),
    BotCommand(command="check", description="Check a certificate now"),
    BotCommand(command="adddomain", description="Monitor a certificate (head office)"),
    BotCommand(command="removedomain", description="Stop monitoring (head office)"),
    BotCommand(command="invite", description="Invite a colleague (head office)"),
    BotCommand(command="help", description="What you can do"),
]


def create_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ConfigurationError(
            "BOT_TOKEN is not set: the bot cannot start (workers can: intrex run --no-bot)"
        )
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
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
    ssl_resolver: Resolver | None = None,
    in_flight: InFlightMiddleware | None = None,
) -> Dispatcher:
    """Routers, middlewares and PostgreSQL-backed conversation state."""
    conversations = storage or PostgresStorage(db)
    dispatcher = Dispatcher(storage=conversations, disable_fsm=True, ssl_resolver=ssl_resolver)
    if in_flight is not None:
        dispatcher.update.outer_middleware(in_flight)
    dispatcher.update.outer_middleware(MetricsMiddleware())
    dispatcher.update.outer_middleware(
        ContextMiddleware(db, settings, dispatcher.fsm, conversations)
    )
    dispatcher.update.outer_middleware(dispatcher.fsm)
    dispatcher.include_routers(*all_routers())
    return dispatcher


async def set_commands(bot: Bot) -> None:
    await bot.set_my_commands(COMMANDS)
