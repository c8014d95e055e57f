"""Replies a waiting conversation expects: the proof file, the waiver reason, the ack note."""

from __future__ import annotations

import uuid

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import CancelButton
from bot.keyboards import cancel_keyboard, complete_now
from bot.middlewares import LinkedOnlyMiddleware
from bot.replies import clip, edit_or_answer, refuse
from bot.routers.alerts import acknowledged_line, mark_alert_message
from bot.states import Flow
from bot.texts import e
from core.config import Settings
from core.db.session import Database
from core.errors import IntrexError
from core.notify.ack import acknowledge
from core.obligations.documents import attach_document, human_size
from core.obligations.service import waive_obligation
from core.tenancy.models import Tenant, User


async def cancel(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await edit_or_answer(callback, "Cancelled.")
    await callback.answer()


async def receive_proof(
    message: Message, state: FSMContext, db: Database, user: User, settings: Settings, bot: Bot
) -> None:
    instance_id = (await state.get_data()).get("instance_id")
    if not instance_id:
        await state.clear()
        await refuse(message, "I lost track of which obligation this is for. Pick it again.")
        return
    if message.document is not None:
        file_id = message.document.file_id
        filename = message.document.file_name or "document"
        size = message.document.file_size
    else:
        assert message.photo
        largest = message.photo[-1]
        file_id, filename, size = largest.file_id, "photo.jpg", largest.file_size
    if size is not None and size > settings.max_document_bytes:
        await message.answer(
            f"That file is {human_size(size)}; the limit is "
            f"{human_size(settings.max_document_bytes)}. Send a smaller one.",
            reply_markup=cancel_keyboard(),
        )
        return
    try:
        downloaded = await bot.download(file_id)
        assert downloaded is not None
        result = await attach_document(db, user, instance_id, filename, downloaded.read())
    except IntrexError as exc:
        await message.answer(e(clip(exc.message, 3000)), reply_markup=cancel_keyboard())
        return
    await state.clear()
    await message.answer(
        "📎 " + e(result.message), reply_markup=complete_now(uuid.UUID(instance_id))
    )


async def proof_expected(message: Message) -> None:
    await message.answer(
        "Please send the proof as a document or a photo.", reply_markup=cancel_keyboard()
    )


async def receive_waive_reason(
    message: Message, state: FSMContext, db: Database, user: User
) -> None:
    instance_id = (await state.get_data()).get("instance_id")
    if not instance_id:
        await state.clear()
        return
    try:
        result = await waive_obligation(db, user, instance_id, message.text or "")
    except IntrexError as exc:
        await message.answer(e(clip(exc.message, 3000)), reply_markup=cancel_keyboard())
        return
    await state.clear()
    text = f"✋ Waived: <b>{e(result.obligation.title)}</b> ({e(result.obligation.branch_code)})"
    if result.next_obligation is not None:
        text += f"\nNext one due {result.next_obligation.due_at:%d %b %Y}."
    await message.answer(text)


async def receive_ack_note(
    message: Message, state: FSMContext, db: Database, user: User, tenant: Tenant, bot: Bot
) -> None:
    data = await state.get_data()
    event_id = data.get("event_id")
    if not event_id:
        await state.clear()
        return
    try:
        result = await acknowledge(
            db,
            tenant_id=user.tenant_id,
            user_id=user.id,
            event_id=uuid.UUID(event_id),
            note=message.text,
        )
    except IntrexError as exc:
        await message.answer(e(clip(exc.message, 3000)), reply_markup=cancel_keyboard())
        return
    await state.clear()
    line = acknowledged_line(result, tenant.timezone)
    if data.get("chat_id") and data.get("message_id"):
        await mark_alert_message(
            bot, int(data["chat_id"]), int(data["message_id"]), data.get("text", ""), line
        )
    await message.answer(line)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="flows")
    router.message.middleware(LinkedOnlyMiddleware())
    router.callback_query.middleware(LinkedOnlyMiddleware())
    router.callback_query.register(cancel, CancelButton.filter())
    router.message.register(receive_proof, Flow.waiting_proof, F.document | F.photo)
    router.message.register(proof_expected, Flow.waiting_proof, ~F.text.startswith("/"))
    router.message.register(
        receive_waive_reason, Flow.waiting_waive_reason, F.text, ~F.text.startswith("/")
    )
    router.message.register(
        receive_ack_note, Flow.waiting_ack_note, F.text, ~F.text.startswith("/")
    )
    return router
