"""What every channel shares: the message it sends and how it says a send failed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


class DeliveryError(Exception):
    """A failed send. `permanent` failures (4xx, bad address) are not retried; a service's
    own "not before" (Telegram's 429 `retry_after`, in seconds) is kept in `retry_after`."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class RenderedMessage:
    """An alert in the forms channels need: a subject, plain text, HTML, and structured data."""

    subject: str
    text: str
    html: str
    data: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    """The recipient's language: the channel words its own parts (buttons) in it too."""


@dataclass(frozen=True)
class Delivery:
    """One attempt handed to a channel: where to, what, and the key a receiver dedupes on."""

    event_id: uuid.UUID
    event_type: str
    severity: str
    idempotency_key: uuid.UUID
    attempt_no: int
    recipient: str
    message: RenderedMessage
    acknowledgeable: bool = True
    dashboard_url: str | None = None
    """Where the dashboard shows this alert (`core.notify.render.dashboard_link`)."""
    timezone: str = "UTC"
    """The tenant's zone: dates a channel words itself (WhatsApp's template parameters)."""


@dataclass(frozen=True)
class SentCopy:
    """Where a sent message landed: a Telegram chat and message, so it can be edited later;
    or the provider's id of it (WhatsApp's `wamid`), which its status callbacks name."""

    chat_id: int | None = None
    message_id: int | None = None
    provider_message_id: str | None = None


class Channel(Protocol):
    """Sends one delivery with a connector's decrypted configuration; raises DeliveryError.
    A channel whose messages can be edited later says where the message landed."""

    async def send(self, config: dict[str, Any], delivery: Delivery) -> SentCopy | None: ...

    async def close(self) -> None: ...
