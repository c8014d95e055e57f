"""Every button's payload, as aiogram CallbackData factories (well under Telegram's 64 bytes).

Ids travel as hex; they are only ever a request, re-authorised on the server on every press.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ObligationButton(CallbackData, prefix="ob"):
    """complete | proof | details | waive | reopen, on one obligation instance."""

    action: str
    id: str


class ObligationPageButton(CallbackData, prefix="op"):
    window: str
    page: int


class AlertButton(CallbackData, prefix="al"):
    """ack | note, on one notification event."""

    action: str
    id: str


class CancelButton(CallbackData, prefix="cx"):
    """Leave whatever the chat was waiting for (proof, note, reason)."""

    what: str = "flow"
