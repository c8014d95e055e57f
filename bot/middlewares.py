"""Middlewares: who is writing (resolved per update) and the refusal for unlinked chats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.types import User as TelegramUser

from bot.texts import NOT_LINKED
from core.config import Settings
from core.db.session import Database
from core.tenancy.service import find_linked_user

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """Injects `db`, `settings`, and the linked `user` and `tenant` (None when unlinked).

    The user is looked up afresh for every update, so a disabled user or a changed role
    takes effect at once; each core service then re-checks scope in its own transaction.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["db"] = self.db
        data["settings"] = self.settings
        sender: TelegramUser | None = data.get("event_from_user")
        identity = await find_linked_user(self.db, sender.id) if sender else None
        data["user"], data["tenant"] = identity if identity else (None, None)
        return await handler(event, data)


class LinkedOnlyMiddleware(BaseMiddleware):
    """On feature routers: an unlinked chat learns how to get an invite, and nothing else."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if data.get("user") is not None:
            return await handler(event, data)
        if isinstance(event, Message):
            await event.answer(NOT_LINKED)
        elif isinstance(event, CallbackQuery):
            await event.answer("This chat is not linked to Intrex.", show_alert=True)
        return None
