"""/start (with an invite code or deep link) and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot.replies import clip
from bot.texts import NOT_LINKED, e, help_text
from core.db.session import Database
from core.errors import IntrexError
from core.tenancy.models import User
from core.tenancy.service import TelegramIdentity, redeem_invite


async def start(message: Message, command: CommandObject, db: Database, user: User | None) -> None:
    code = (command.args or "").strip()
    sender = message.from_user
    if user is not None:
        prefix = "This Telegram account is already linked.\n\n" if code else ""
        await message.answer(prefix + help_text(user.role, user.full_name))
        return
    if not code or sender is None:
        await message.answer(NOT_LINKED)
        return
    try:
        linked = await redeem_invite(
            db,
            code,
            TelegramIdentity(
                user_id=sender.id, username=sender.username, full_name=sender.full_name
            ),
        )
    except IntrexError as exc:
        await message.answer(e(clip(exc.message, 3000)))
        return
    await message.answer("✅ Linked! " + help_text(linked.role, linked.full_name))


async def show_help(message: Message, user: User | None) -> None:
    if user is None:
        await message.answer(NOT_LINKED)
        return
    await message.answer(help_text(user.role, user.full_name))


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="linking")
    router.message.register(start, CommandStart())
    router.message.register(show_help, Command("help"))
    return router
