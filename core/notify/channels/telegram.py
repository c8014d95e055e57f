"""Telegram delivery, declared here and implemented by `bot/` (core never imports aiogram)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from core.notify.channels.base import Delivery, DeliveryError, RenderedMessage


class TelegramSender(Protocol):
    """Sends an alert to a chat with its Acknowledge button; raises DeliveryError on failure."""

    async def send_alert(
        self, chat_id: int, message: RenderedMessage, *, event_id: uuid.UUID, acknowledgeable: bool
    ) -> None: ...


class TelegramChannel:
    """The recipient is the chat id the dispatcher resolved from the linked user."""

    def __init__(self, sender: TelegramSender | None) -> None:
        self._sender = sender

    async def send(self, config: dict[str, Any], delivery: Delivery) -> None:
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
        await self._sender.send_alert(
            chat_id,
            delivery.message,
            event_id=delivery.event_id,
            acknowledgeable=delivery.acknowledgeable,
        )

    async def close(self) -> None:
        return None
