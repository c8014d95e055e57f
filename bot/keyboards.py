"""Inline keyboards, built from the CallbackData factories."""

from __future__ import annotations

import uuid

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import AlertButton, CancelButton, ObligationButton, ObligationPageButton
from core.obligations.views import ObligationPage, ObligationView


def obligation_row(
    builder: InlineKeyboardBuilder, number: int, item: ObligationView, *, can_waive: bool
) -> None:
    hex_id = item.id.hex
    buttons = [
        (f"{number} ✅", "complete"),
        (f"{number} 📎", "proof"),
        (f"{number} 🔎", "details"),
    ]
    if can_waive:
        buttons.append((f"{number} ✋", "waive"))
    for text, action in buttons:
        builder.button(text=text, callback_data=ObligationButton(action=action, id=hex_id))


def obligations_keyboard(
    page: ObligationPage, window: str, *, can_waive: bool
) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    widths: list[int] = []
    for number, item in enumerate(page.items, start=1 + page.page * page.page_size):
        obligation_row(builder, number, item, can_waive=can_waive)
        widths.append(4 if can_waive else 3)
    nav = 0
    if page.page > 0:
        builder.button(
            text="◀ Previous", callback_data=ObligationPageButton(window=window, page=page.page - 1)
        )
        nav += 1
    if page.has_more:
        builder.button(
            text="Next ▶", callback_data=ObligationPageButton(window=window, page=page.page + 1)
        )
        nav += 1
    if nav:
        widths.append(nav)
    if not widths:
        return None
    builder.adjust(*widths)
    return builder.as_markup()


def details_keyboard(
    item: ObligationView, *, can_complete: bool, can_waive: bool, can_reopen: bool, window: str
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    hex_id = item.id.hex
    if can_complete:
        builder.button(
            text="✅ Complete", callback_data=ObligationButton(action="complete", id=hex_id)
        )
        builder.button(
            text="📎 Upload proof", callback_data=ObligationButton(action="proof", id=hex_id)
        )
    if can_waive:
        builder.button(text="✋ Waive", callback_data=ObligationButton(action="waive", id=hex_id))
    if can_reopen:
        builder.button(text="↩️ Reopen", callback_data=ObligationButton(action="reopen", id=hex_id))
    builder.button(text="⬅ Back to list", callback_data=ObligationPageButton(window=window, page=0))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def proof_then_complete(item_id: uuid.UUID) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text="📎 Upload proof", callback_data=ObligationButton(action="proof", id=item_id.hex)
    )
    return builder.as_markup()


def complete_now(item_id: uuid.UUID) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text="✅ Complete now", callback_data=ObligationButton(action="complete", id=item_id.hex)
    )
    return builder.as_markup()


def cancel_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="Cancel", callback_data=CancelButton())
    return builder.as_markup()


def alert_keyboard(event_id: uuid.UUID, *, in_list: bool = False) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    prefix = "l" if in_list else ""
    builder.button(
        text="✅ Acknowledge", callback_data=AlertButton(action=f"{prefix}ack", id=event_id.hex)
    )
    builder.button(
        text="📝 With a note", callback_data=AlertButton(action=f"{prefix}note", id=event_id.hex)
    )
    return builder.as_markup()


def alerts_list_keyboard(event_ids: list[uuid.UUID]) -> InlineKeyboardMarkup | None:
    if not event_ids:
        return None
    builder = InlineKeyboardBuilder()
    for number, event_id in enumerate(event_ids, start=1):
        builder.button(
            text=f"{number} ✅", callback_data=AlertButton(action="lack", id=event_id.hex)
        )
        builder.button(
            text=f"{number} 📝", callback_data=AlertButton(action="lnote", id=event_id.hex)
        )
    builder.adjust(*([2] * len(event_ids)))
    return builder.as_markup()
