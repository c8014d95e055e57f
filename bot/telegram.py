"""The `telegram_bot` connector: core's TelegramSender, fulfilled with aiogram."""

from __future__ import annotations

import uuid

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.keyboards import alert_keyboard
from bot.texts import e, fit_lines
from core.i18n import texts_for
from core.notify.channels.base import DeliveryError, RenderedMessage


def needs_no_edit(description: str) -> bool:
    """Telegram's answers for a copy that needs no edit or cannot take one any more."""
    return (
        "message is not modified" in description
        or "message to edit not found" in description
        or "message can't be edited" in description
    )


def rate_limited(exc: TelegramRetryAfter) -> DeliveryError:
    """A 429: retried, not before Telegram's `retry_after`. Not waited out here: the caller
    also pushes the chat's shared budget back, so no replica sends into the same wall."""
    return DeliveryError(
        f"Telegram rate limit: retry after {exc.retry_after}s",
        permanent=False,
        retry_after=float(exc.retry_after),
    )


class BotTelegramSender:
    """Sends alerts with their Acknowledge buttons; maps Telegram's errors to retry or not."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_alert(
        self, chat_id: int, message: RenderedMessage, *, event_id: uuid.UUID, acknowledgeable: bool
    ) -> int:
        text = fit_lines([e(line) for line in message.text.splitlines()])
        markup = alert_keyboard(event_id, texts_for(message.language)) if acknowledgeable else None
        try:
            sent = await self.bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            raise rate_limited(exc) from exc
        except TelegramForbiddenError as exc:
            raise DeliveryError(f"the user blocked the bot: {exc.message}", permanent=True) from exc
        except TelegramBadRequest as exc:
            raise DeliveryError(f"Telegram refused: {exc.message}", permanent=True) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise DeliveryError(f"Telegram unavailable: {exc.message}", permanent=False) from exc
        return sent.message_id

    async def edit_alert(self, chat_id: int, message_id: int, text: str) -> None:
        """Replace a delivered alert's text and take its buttons away. A copy already so,
        deleted, or too old to edit is left as it is: nothing more can be done for it."""
        body = fit_lines([e(line) for line in text.splitlines()])
        try:
            await self.bot.edit_message_text(
                text=body, chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except TelegramRetryAfter as exc:
            raise rate_limited(exc) from exc
        except TelegramBadRequest as exc:
            if needs_no_edit(exc.message):
                return
            raise DeliveryError(f"Telegram refused: {exc.message}", permanent=True) from exc
        except TelegramForbiddenError as exc:
            raise DeliveryError(f"the chat blocked the bot: {exc.message}", permanent=True) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise DeliveryError(f"Telegram unavailable: {exc.message}", permanent=False) from exc
