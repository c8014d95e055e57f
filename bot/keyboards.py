"""Inline keyboards, built from the CallbackData factories.

Rows are assembled directly: aiogram's InlineKeyboardBuilder deep-copies the whole markup
on every added button, which made a 20-button obligations page cost milliseconds.
"""

from __future__ import annotations

import uuid

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AlertButton, CancelButton, ObligationButton, ObligationPageButton
from core.obligations.views import ObligationPage, ObligationView


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    kept = [row for row in rows if row]
    return InlineKeyboardMarkup(inline_keyboard=kept) if kept else None


def obligation_row(
    number: int, item: ObligationView, *, can_waive: bool
) -> list[InlineKeyboardButton]:
    hex_id = item.id.hex
    actions = [(f"{number} ✅", "complete"), (f"{number} 📎", "proof"), (f"{number} 🔎", "details")]
    if can_waive:
        actions.append((f"{number} ✋", "waive"))
    return [button(text, ObligationButton(action=action, id=hex_id)) for text, action in actions]


def obligations_keyboard(
    page: ObligationPage, window: str, *, can_waive: bool
) -> InlineKeyboardMarkup | None:
    rows = [
        obligation_row(number, item, can_waive=can_waive)
        for number, item in enumerate(page.items, start=1 + page.page * page.page_size)
    ]
    navigation = []
    if page.page > 0:
        navigation.append(
            button("◀ Previous", ObligationPageButton(window=window, page=page.page - 1))
        )
    if page.has_more:
        navigation.append(button("Next ▶", ObligationPageButton(window=window, page=page.page + 1)))
    return markup([*rows, navigation])


def details_keyboard(
    item: ObligationView, *, can_complete: bool, can_waive: bool, can_reopen: bool, window: str
) -> InlineKeyboardMarkup:
    hex_id = item.id.hex
    actions: list[InlineKeyboardButton] = []
    if can_complete:
        actions.append(button("✅ Complete", ObligationButton(action="complete", id=hex_id)))
        actions.append(button("📎 Upload proof", ObligationButton(action="proof", id=hex_id)))
    if can_waive:
        actions.append(button("✋ Waive", ObligationButton(action="waive", id=hex_id)))
    if can_reopen:
        actions.append(button("↩️ Reopen", ObligationButton(action="reopen", id=hex_id)))
    back = [button("⬅ Back to list", ObligationPageButton(window=window, page=0))]
    built = markup([actions[:2], actions[2:], back])
    assert built is not None
    return built


def _single(text: str, data: CallbackData) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[button(text, data)]])


def proof_then_complete(item_id: uuid.UUID) -> InlineKeyboardMarkup:
    return _single("📎 Upload proof", ObligationButton(action="proof", id=item_id.hex))


def complete_now(item_id: uuid.UUID) -> InlineKeyboardMarkup:
    return _single("✅ Complete now", ObligationButton(action="complete", id=item_id.hex))


def cancel_keyboard() -> InlineKeyboardMarkup:
    return _single("Cancel", CancelButton())


def alert_keyboard(event_id: uuid.UUID, *, in_list: bool = False) -> InlineKeyboardMarkup:
    prefix = "l" if in_list else ""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button("✅ Acknowledge", AlertButton(action=f"{prefix}ack", id=event_id.hex)),
                button("📝 With a note", AlertButton(action=f"{prefix}note", id=event_id.hex)),
            ]
        ]
    )


def alerts_list_keyboard(event_ids: list[uuid.UUID]) -> InlineKeyboardMarkup | None:
    return markup(
        [
            [
                button(f"{number} ✅", AlertButton(action="lack", id=event_id.hex)),
                button(f"{number} 📝", AlertButton(action="lnote", id=event_id.hex)),
            ]
            for number, event_id in enumerate(event_ids, start=1)
        ]
    )
