"""Middlewares: who is writing (resolved per update) and the refusal for unlinked chats."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.types import User as TelegramUser

from bot.storage import PostgresStorage
from bot.texts import NOT_LINKED
from core.chat.context import load_chat_context
from core.config import Settings
from core.db.session import Database

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """Injects `db`, `settings`, and the linked `user` and `tenant` (None when unlinked).

    The user is looked up afresh for every update, so a disabled user or a changed role
    takes effect at once; each core service then re-checks scope in its own transaction.
    The same statement reads the conversation state, which primes the FSM storage.
    """

    def __init__(
        self, db: Database, settings: Settings, fsm: FSMContextMiddleware, storage: PostgresStorage
    ) -> None:
        self.db = db
        self.settings = settings
        self.fsm = fsm
        self.storage = storage

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["db"] = self.db
        data["settings"] = self.settings
        sender: TelegramUser | None = data.get("event_from_user")
        conversation = self.fsm.resolve_event_context(data["bot"], data)
        keys = self.storage.keys_for(conversation.key) if conversation else None
        loaded = await load_chat_context(self.db, sender.id if sender else None, list(keys or ()))
        if keys:
            self.storage.prime(loaded.states, keys)
        data["user"], data["tenant"] = loaded.user, loaded.tenant
        update = data.get("event_update")
        with structlog.contextvars.bound_contextvars(
            update_id=getattr(update, "update_id", None),
            tenant_id=str(loaded.tenant.id) if loaded.tenant else None,
            user_id=loaded.user.id if loaded.user else None,
        ):
            return await handler(event, data)


class InFlightMiddleware(BaseMiddleware):
    """Knows whether any update is being handled, so a stopping process can let them finish.

    aiogram stops fetching updates on request but leaves the handlers it started running;
    closing the database under them would turn a user's half-done upload into an error.
    """

    def __init__(self) -> None:
        self._handling = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        self._handling += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self._handling -= 1
            if self._handling == 0:
                self._idle.set()

    @property
    def handling(self) -> int:
        return self._handling

    async def drained(self, within: float) -> bool:
        """Wait up to `within` seconds for the updates in hand; whether they all finished."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


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
