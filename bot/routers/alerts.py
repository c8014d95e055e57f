"""/alerts and the Acknowledge buttons (on delivered alerts and on the list)."""

from __future__ import annotations

import uuid

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import AlertButton
from bot.keyboards import alerts_list_keyboard, cancel_keyboard
from bot.middlewares import GROUP, guard
from bot.replies import edit_or_answer
from bot.states import Flow
from bot.texts import SEVERITY_MARK, e, fit_lines
from core.errors import ErrorCode
from core.i18n import Texts
from core.notify import copies
from core.notify.ack import AckResult, acknowledge, acknowledgeable
from core.notify.alerts import list_open_alerts
from core.notify.render import headline
from core.parsing import parse_id
from core.tenancy.scope import Actor


def acknowledged_line(result: AckResult, texts: Texts, timezone: str) -> str:
    """The same sentence the other copies of the alert get (`core.notify.copies`), escaped."""
    return e(
        copies.acknowledged_line(
            texts,
            result.acknowledged_by,
            texts.moment(result.acknowledgement.ack_at, timezone),
            result.acknowledgement.ack_note,
        )
    )


async def mark_alert_message(
    bot: Bot, chat_id: int, message_id: int, original: str, line: str
) -> None:
    """Edit a delivered alert to say who acknowledged it, and take its buttons away."""
    try:
        await bot.edit_message_text(
            text=fit_lines([e(original), "", line]), chat_id=chat_id, message_id=message_id
        )
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            raise


async def alerts_text(
    session: AsyncSession, actor: Actor, texts: Texts
) -> tuple[str, InlineKeyboardMarkup | None]:
    alerts = await list_open_alerts(session, actor)
    if not alerts:
        return _("No unacknowledged alerts. 🎉"), None
    lines = [_("<b>Unacknowledged alerts</b>")]
    for number, alert in enumerate(alerts, start=1):
        lines.append(
            _("{number}. {mark} {headline} ({moment})").format(
                number=texts.number(number),
                mark=SEVERITY_MARK.get(alert.severity, ""),
                headline=e(headline(texts, alert.event_type.value, alert.payload)),
                moment=texts.moment(alert.created_at, actor.timezone),
            )
        )
    lines += ["", _("✅ acknowledge · 📝 with a note")]
    return fit_lines(lines), alerts_list_keyboard([alert.event_id for alert in alerts])


async def alerts(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    text, markup = await alerts_text(session, actor, texts)
    await message.answer(text, reply_markup=markup)


async def ack(
    callback: CallbackQuery,
    callback_data: AlertButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    message = callback.message
    pressed = (
        (message.chat.id, message.message_id)
        if callback_data.action == "ack"
        and message is not None
        and not isinstance(message, InaccessibleMessage)
        else None
    )
    result = await acknowledge(
        session, actor, parse_id(callback_data.id, ErrorCode.alert_not_found), pressed=pressed
    )
    line = acknowledged_line(result, texts, actor.timezone)
    if callback_data.action == "lack":
        text, markup = await alerts_text(session, actor, texts)
        await edit_or_answer(callback, text, markup)
    elif callback.message is not None and not isinstance(callback.message, InaccessibleMessage):
        await edit_or_answer(callback, fit_lines([e(callback.message.text or ""), "", line]))
    await callback.answer(_("Already acknowledged") if result.already else _("Acknowledged"))


async def ask_for_note(
    callback: CallbackQuery,
    callback_data: AlertButton,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    event_id: uuid.UUID = parse_id(callback_data.id, ErrorCode.alert_not_found)
    await acknowledgeable(session, actor, event_id)
    data: dict[str, str | int] = {"event_id": event_id.hex}
    message = callback.message
    if (
        callback_data.action == "note"
        and message is not None
        and not isinstance(message, InaccessibleMessage)
    ):
        data |= {
            "chat_id": message.chat.id,
            "message_id": message.message_id,
            "text": message.text or "",
        }
    await state.set_state(Flow.waiting_ack_note)
    await state.set_data(data)
    if callback.from_user and callback.bot:
        await callback.bot.send_message(
            callback.from_user.id,
            _("📝 Reply with your note; the alert is acknowledged with it."),
            reply_markup=cancel_keyboard(),
        )
    await callback.answer()


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="alerts")
    guard(router)
    router.message.register(alerts, Command("alerts"))
    router.callback_query.register(
        ack, AlertButton.filter(F.action.in_({"ack", "lack"})), flags={GROUP: True}
    )
    router.callback_query.register(
        ask_for_note, AlertButton.filter(F.action.in_({"note", "lnote"}))
    )
    return router
