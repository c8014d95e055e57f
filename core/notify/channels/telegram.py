"""Telegram delivery, declared here and implemented by `bot/` (core never imports aiogram)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from core.notify.channels.base import Delivery, DeliveryError, RenderedMessage, SentCopy


class TelegramSender(Protocol):
    """Sends an alert to a chat with its Acknowledge button, and edits a sent one (its
    buttons gone); raises DeliveryError on failure."""

    async def send_alert(
        self, chat_id: int, message: RenderedMessage, *, event_id: uuid.UUID, acknowledgeable: bool
    ) -> int:
        """The sent message's id."""
        ...

    async def edit_alert(self, chat_id: int, message_id: int, text: str) -> None:
        """Replace a sent alert's text (plain; the sender escapes it) and drop its buttons;
        a message already so, or gone, is not an error."""
        ...


class TelegramChannel:
    """The recipient is the chat id the dispatcher resolved from the linked user."""

    def __init__(self, sender: TelegramSender | None) -> None:
        self._sender = sender

    @property
    def sender(self) -> TelegramSender | None:
        return self._sender

    async def send(self, config: dict[str, Any], delivery: Delivery) -> SentCopy:
        if self._sender is None:
            raise DeliveryError(
                "Telegram is not available in this process: BOT_TOKEN is not set", permanent=True
            )
        try:
            chat_id = int(delivery.recipient)
        except ValueError as exc:
            raise DeliveryError(
                f"{delivery.recipient!r} is not a linked Telegram user", permanent=True
            ) from exc
        message_id = await self._sender.send_alert(
            chat_id,
            delivery.message,
            event_id=delivery.event_id,
            acknowledgeable=delivery.acknowledgeable,
        )
        return SentCopy(chat_id, message_id)

    async def close(self) -> None:
        return None
