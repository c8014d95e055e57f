"""Answering a button press in place: edit the pressed message, or reply when it cannot be."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup


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
