"""Anything no other handler took: a short pointer, never silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.middlewares import not_linked_text
from core.tenancy.models import User


async def unknown(message: Message, user: User | None) -> None:
    if message.chat.type != "private":
        return  # a group's own conversation is not for the bot
    if user is None:
        await message.answer(not_linked_text())
        return
    await message.answer(_("I did not understand that. /help lists what I can do."))


async def stale_button(callback: CallbackQuery) -> None:
    await callback.answer(_("This button is no longer valid."), show_alert=True)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="fallback")
    router.message.register(unknown)
    router.callback_query.register(stale_button)
    return router
