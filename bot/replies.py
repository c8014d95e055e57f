"""Answering safely: edit in place (ignoring "not modified"), refusals as toasts or replies."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message

from bot.texts import e


async def edit_or_answer(
    callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the pressed message; a message too old to edit gets a fresh reply instead."""
    message = callback.message
    if message is None or isinstance(message, InaccessibleMessage):
        if callback.from_user and callback.bot:
            await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" in exc.message:
            return
        if "message can't be edited" in exc.message or "message to edit not found" in exc.message:
            await message.answer(text, reply_markup=markup)
            return
        raise


async def refuse(event: Message | CallbackQuery, reason: str) -> None:
    """A refusal: a pop-up on a button press, a reply to a message; text always escaped."""
    if isinstance(event, CallbackQuery):
        await event.answer(clip(reason, 200), show_alert=True)
    else:
        await event.answer(e(clip(reason, 3000)))


def clip(text: str, limit: int) -> str:
    """Telegram caps messages (4096) and pop-ups (200); a refusal quoting input must fit."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
