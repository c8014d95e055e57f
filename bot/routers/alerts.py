"""/alerts and the Acknowledge buttons (on delivered alerts and on the list)."""

from __future__ import annotations

import uuid

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from bot.callbacks import AlertButton
from bot.keyboards import alerts_list_keyboard, cancel_keyboard
from bot.middlewares import LinkedOnlyMiddleware
from bot.replies import edit_or_answer, refuse
from bot.states import Flow
from bot.texts import SEVERITY_MARK, e, local_time
from core.db.session import Database
from core.errors import IntrexError, ValidationError
from core.notify.ack import AckResult, acknowledge
from core.notify.alerts import list_open_alerts
from core.tenancy.models import Tenant, User


def acknowledged_line(result: AckResult, timezone: str) -> str:
    who = result.acknowledged_by.full_name or result.acknowledged_by.email or "a colleague"
    when = local_time(result.acknowledgement.ack_at, timezone)
    note = f": “{e(result.acknowledgement.ack_note)}”" if result.acknowledgement.ack_note else ""
    return f"✅ Acknowledged by {e(who)} at {when}{note}"


async def mark_alert_message(
    bot: Bot, chat_id: int, message_id: int, original: str, line: str
) -> None:
    """Edit a delivered alert to say who acknowledged it, and take its buttons away."""
    try:
        await bot.edit_message_text(
            text=f"{e(original)}\n\n{line}", chat_id=chat_id, message_id=message_id
        )
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            raise


async def alerts_text(db: Database, user: User, tenant: Tenant) -> tuple[str, list[uuid.UUID]]:
    alerts = await list_open_alerts(db, user)
    if not alerts:
        return "No unacknowledged alerts. 🎉", []
    lines = ["<b>Unacknowledged alerts</b>"]
    for number, alert in enumerate(alerts, start=1):
        branch = f" — {e(alert.branch_code)}" if alert.branch_code else ""
        lines.append(
            f"{number}. {SEVERITY_MARK.get(alert.severity, '')} {e(alert.headline)}{branch} "
            f"({local_time(alert.created_at, tenant.timezone)})"
        )
    lines.append("\n✅ acknowledge · 📝 with a note")
    return "\n".join(lines), [alert.event_id for alert in alerts]


async def alerts(message: Message, db: Database, user: User, tenant: Tenant) -> None:
    text, ids = await alerts_text(db, user, tenant)
    await message.answer(text, reply_markup=alerts_list_keyboard(ids))


def _event_id(callback_data: AlertButton) -> uuid.UUID:
    try:
        return uuid.UUID(hex=callback_data.id)
    except ValueError as exc:
        raise ValidationError("This button is not valid any more.") from exc


async def ack(
    callback: CallbackQuery,
    callback_data: AlertButton,
    db: Database,
    user: User,
    tenant: Tenant,
) -> None:
    try:
        result = await acknowledge(
            db, tenant_id=user.tenant_id, user_id=user.id, event_id=_event_id(callback_data)
        )
    except IntrexError as exc:
        await refuse(callback, exc.message)
        return
    line = acknowledged_line(result, tenant.timezone)
    if callback_data.action == "lack":
        text, ids = await alerts_text(db, user, tenant)
        await edit_or_answer(callback, text, alerts_list_keyboard(ids))
    elif callback.message is not None and not isinstance(callback.message, InaccessibleMessage):
        await edit_or_answer(callback, f"{e(callback.message.text or '')}\n\n{line}")
    await callback.answer("Already acknowledged" if result.already else "Acknowledged")


async def ask_for_note(
    callback: CallbackQuery, callback_data: AlertButton, state: FSMContext
) -> None:
    try:
        event_id = _event_id(callback_data)
    except IntrexError as exc:
        await refuse(callback, exc.message)
        return
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
            "📝 Reply with your note; the alert is acknowledged with it.",
            reply_markup=cancel_keyboard(),
        )
    await callback.answer()


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="alerts")
    router.message.middleware(LinkedOnlyMiddleware())
    router.callback_query.middleware(LinkedOnlyMiddleware())
    router.message.register(alerts, Command("alerts"))
    router.callback_query.register(ack, AlertButton.filter(F.action.in_({"ack", "lack"})))
    router.callback_query.register(
        ask_for_note, AlertButton.filter(F.action.in_({"note", "lnote"}))
    )
    return router
