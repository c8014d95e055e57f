"""Middlewares: who is writing, in which language, and the unit of work their handler runs in.

Per update, in this order:
1. `ContextMiddleware` (outer, on the update): one system-path statement finds the linked,
   active user and their tenant by Telegram id, with the conversation state; it decides the
   reader's language (`locale`, and `texts` for formatting) and injects the settings, the
   database and the document storage (aiogram's workflow data). A chat whose person was
   disabled loses its conversation state here; a linked person's Telegram name, @username
   and last seen are refreshed (at most once a minute unless they changed).
2. `UnitOfWorkMiddleware` (inner, on feature routers): an unlinked chat learns how to get
   an invite, and nothing else; otherwise it opens the tenant transaction, loads the acting
   user once (`actor`, with role, branches, the tenant's today), hands the handler
   `connection`/`session` and `actor`, and commits after it (rolls back if it raises). A handler
   flagged `network` (a certificate check, a file download) gets `units` instead, to open
   a short unit of work per phase, so no transaction waits on the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.types import User as TelegramUser
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import PostgresStorage
from bot.texts import clip
from core.chat.context import load_chat_context
from core.config import Settings
from core.db.driver import DriverReads
from core.db.session import Database
from core.errors import ErrorCode, PermissionDeniedError, ValidationError
from core.i18n import choose_language, texts_for
from core.storage import DocumentStorage
from core.tenancy.linking import identity_stale, refresh_identity
from core.tenancy.people import NAME_LIMIT
from core.tenancy.scope import ActorUnits, load_actor

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

NETWORK = "network"
"""Handler flag: the handler does network work and opens its own units of work."""
GROUP = "group"
"""Handler flag: the handler works in a group chat too (everything else is private only)."""
PRIVATE = "private"


def not_linked_text() -> str:
    return _(
        "This chat is not linked to Intrex yet.\n"
        "Ask your administrator for an invite, then send <code>/start CODE</code> "
        "or open the invite link."
    )


class ContextMiddleware(BaseMiddleware):
    """Injects `db`, `settings`, `storage`, the linked `user` and `tenant` (None when
    unlinked), and the reader's `locale` and `texts`.

    The user is looked up afresh for every update, so a disabled user or a changed role
    takes effect at once. The same statement reads the conversation state, which primes
    the FSM storage.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        fsm: FSMContextMiddleware,
        conversations: PostgresStorage,
        documents: DocumentStorage,
    ) -> None:
        self.db = db
        self.settings = settings
        self.fsm = fsm
        self.conversations = conversations
        self.documents = documents

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["db"] = self.db
        data["settings"] = self.settings
        data["storage"] = self.documents
        sender: TelegramUser | None = data.get("event_from_user")
        client_language = sender.language_code if sender else None
        data["locale"] = choose_language(
            None, client_language, None, self.settings.default_language
        ).value
        conversation = self.fsm.resolve_event_context(data["bot"], data)
        keys = self.conversations.keys_for(conversation.key) if conversation else None
        loaded = await load_chat_context(self.db, sender.id if sender else None, list(keys or ()))
        if keys:
            self.conversations.prime(loaded.states, keys)
            data["state_keys"] = keys
        user, tenant = loaded.user, loaded.tenant
        if user is None and keys and any(state or saved for state, saved in loaded.states.values()):
            await self.conversations.clear(keys)
        elif user is not None and sender is not None:
            name = clip(sender.full_name, NAME_LIMIT) if sender.full_name else None
            if identity_stale(user, sender.username, name):
                await refresh_identity(self.db, user.id, sender.username, name)
        data["user"], data["tenant"] = user, tenant
        locale = choose_language(
            user.language if user else None,
            client_language,
            tenant.language if tenant else None,
            self.settings.default_language,
        )
        data["locale"], data["texts"] = locale.value, texts_for(locale)
        update = data.get("event_update")
        with structlog.contextvars.bound_contextvars(
            update_id=getattr(update, "update_id", None),
            tenant_id=str(tenant.id) if tenant else None,
            user_id=user.id if user else None,
        ):
            return await handler(event, data)


async def answer_not_linked(event: TelegramObject) -> None:
    if isinstance(event, Message):
        await event.answer(not_linked_text())
    elif isinstance(event, CallbackQuery):
        await event.answer(_("This chat is not linked to Intrex."), show_alert=True)


class UnitOfWorkMiddleware(BaseMiddleware):
    """Linked chats only; then the update's tenant transaction and its actor, for the
    handler that was chosen (`connection` for Core statements, `session` for the ORM: the
    same transaction; the ORM session only for handlers that take one). A handler that
    takes `reads` gets a read-only transaction on the driver alone, the cheapest there is:
    the page every `/obligations` shows."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user, tenant = data.get("user"), data.get("tenant")
        if user is None or tenant is None:
            await answer_not_linked(event)
            return None
        if not _private(event) and not get_flag(data, GROUP):
            raise ValidationError(ErrorCode.private_only)
        db: Database = data["db"]
        units = ActorUnits(db, tenant.id, user.id)
        data["units"] = units
        if get_flag(data, NETWORK):
            return await handler(event, data)
        if "reads" in data["handler"].params:
            async with db.tenant_reads(tenant.id) as reads:
                return await self._act(handler, event, data, reads, reads=reads)
        if "session" not in data["handler"].params:
            async with db.tenant_connection(tenant.id) as connection:
                return await self._act(handler, event, data, connection, connection=connection)
        async with db.tenant_work(tenant.id) as (connection, session):
            return await self._act(
                handler, event, data, connection, connection=connection, session=session
            )

    @staticmethod
    async def _act(
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
        source: AsyncConnection | DriverReads,
        **work: Any,
    ) -> Any:
        """Load the actor in the unit of work just opened, then run the handler in it."""
        try:
            actor = await load_actor(source, data["user"].id)
        except PermissionDeniedError:
            await answer_not_linked(event)
            return None
        data.update(work, actor=actor)
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


def _private(event: TelegramObject) -> bool:
    """Whether the update comes from a private chat (a button: the chat of its message)."""
    if isinstance(event, Message):
        return event.chat.type == PRIVATE
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat.type == PRIVATE
    return True


def guard(router: Any) -> None:
    """A feature router's middleware: linked chats only, then the unit of work."""
    for observer in (router.message, router.callback_query):
        observer.middleware(UnitOfWorkMiddleware())
