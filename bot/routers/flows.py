"""Replies a waiting conversation expects (the proof file, the waiver reason, the ack note),
and a file sent without asking: "which obligation is this proof for?"."""

from __future__ import annotations

import uuid

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CancelButton, ObligationButton
from bot.keyboards import cancel_keyboard, complete_now, proof_targets_keyboard
from bot.middlewares import NETWORK, guard
from bot.replies import edit_or_answer
from bot.routers.alerts import acknowledged_line, mark_alert_message
from bot.states import Flow
from bot.storage import PostgresStorage
from bot.texts import e
from bot.uploads import DownloadUnavailableError, TelegramFiles, finish_upload, stored_text
from core.config import Settings
from core.db.session import Database
from core.errors import ErrorCode, IntrexError, ValidationError
from core.i18n import Texts
from core.notify.ack import acknowledge
from core.obligations import policy
from core.obligations.actions import waive_obligation
from core.obligations.documents import UploadLimits, accept_proof, record_pending_upload
from core.obligations.parsing import parse_instance_id
from core.obligations.queries import list_open_obligations
from core.storage import DocumentStorage
from core.tenancy.scope import Actor, ActorUnits


async def cancel(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await edit_or_answer(callback, _("Cancelled."))
    await callback.answer()


def incoming_file(message: Message) -> tuple[str, str | None, int | None]:
    """The file of a document or photo message: id, name, declared size."""
    if message.document is not None:
        document = message.document
        return document.file_id, document.file_name or "document", document.file_size
    assert message.photo
    largest = message.photo[-1]
    return largest.file_id, "photo.jpg", largest.file_size


async def upload(
    message: Message,
    instance_id: uuid.UUID,
    file: tuple[str, str | None, int | None],
    *,
    units: ActorUnits,
    db: Database,
    bot: Bot,
    state: FSMContext,
    storage: DocumentStorage,
    settings: Settings,
    state_keys: tuple[str, str],
) -> None:
    """Both phases of a proof upload, around the download (see core.obligations.documents)."""
    file_id, filename, declared = file
    limits = UploadLimits.from_settings(settings)
    async with units() as (session, actor):
        await accept_proof(session, actor, instance_id, declared, limits)
    pending = await record_pending_upload(
        db,
        actor,
        instance_id=instance_id,
        chat_id=message.chat.id,
        file_id=file_id,
        filename=filename,
        consumed_state_keys=state_keys,
        lease=limits.resume_after,
    )
    PostgresStorage.forget(state_keys)
    try:
        stored = await finish_upload(units, pending, TelegramFiles(bot), storage, limits)
    except DownloadUnavailableError:
        await message.answer(
            _(
                "📎 Telegram did not hand the file over just now. I will keep trying and "
                "tell you here when it is stored."
            )
        )
        return
    except ValidationError as exc:
        if exc.code in RETRYABLE:
            await state.set_state(Flow.waiting_proof)
            await state.set_data({"instance_id": instance_id.hex})
        raise
    await message.answer(
        stored_text(stored), reply_markup=complete_now(instance_id) if stored.may_complete else None
    )


RETRYABLE = frozenset(
    {
        ErrorCode.document_too_large,
        ErrorCode.document_over_limit,
        ErrorCode.document_type_refused,
        ErrorCode.document_empty,
    }
)
"""Refusals of this file, not of the upload: the chat keeps waiting for a better one."""


async def receive_proof(
    message: Message,
    state: FSMContext,
    units: ActorUnits,
    db: Database,
    bot: Bot,
    storage: DocumentStorage,
    settings: Settings,
    state_keys: tuple[str, str],
) -> None:
    instance_hex = (await state.get_data()).get("instance_id")
    if not instance_hex:
        await state.clear()
        raise ValidationError(ErrorCode.conversation_lost)
    await upload(
        message,
        parse_instance_id(instance_hex),
        incoming_file(message),
        units=units,
        db=db,
        bot=bot,
        state=state,
        storage=storage,
        settings=settings,
        state_keys=state_keys,
    )


async def proof_expected(message: Message) -> None:
    await message.answer(
        _("Please send the proof as a document or a photo."), reply_markup=cancel_keyboard()
    )


async def unasked_file(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """A document or photo with no Upload proof pressed: offer what it could be proof for."""
    file_id, filename, size = incoming_file(message)
    listing = await list_open_obligations(session, actor, page_size=5)
    targets = [item for item in listing.items if policy.can_upload_proof(actor, item)]
    if not targets:
        await message.answer(_("Thanks, but there is no open obligation to attach it to."))
        return
    await state.set_state(Flow.choosing_proof_target)
    await state.set_data({"file_id": file_id, "filename": filename, "size": size})
    await message.answer(
        _("Which obligation is this file proof for?"), reply_markup=proof_targets_keyboard(targets)
    )


async def attach_chosen(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    state: FSMContext,
    units: ActorUnits,
    db: Database,
    bot: Bot,
    storage: DocumentStorage,
    settings: Settings,
    state_keys: tuple[str, str],
) -> None:
    data = await state.get_data()
    if await state.get_state() != Flow.choosing_proof_target.state or not data.get("file_id"):
        raise ValidationError(ErrorCode.conversation_lost)
    await callback.answer()
    if callback.message is None:
        return
    message = callback.message
    assert isinstance(message, Message)
    await upload(
        message,
        parse_instance_id(callback_data.id),
        (str(data["file_id"]), data.get("filename"), data.get("size")),
        units=units,
        db=db,
        bot=bot,
        state=state,
        storage=storage,
        settings=settings,
        state_keys=state_keys,
    )


async def receive_waive_reason(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, texts: Texts
) -> None:
    instance_hex = (await state.get_data()).get("instance_id")
    if not instance_hex:
        await state.clear()
        raise ValidationError(ErrorCode.conversation_lost)
    result = await waive_obligation(
        session, actor, parse_instance_id(instance_hex), message.text or ""
    )
    await state.clear()
    lines = [
        _("✋ Waived: <b>{title}</b> ({branch})").format(
            title=e(result.obligation.title), branch=e(result.obligation.branch_code)
        )
    ]
    if result.next_obligation is not None:
        lines.append(
            _("Next one due {date}.").format(date=texts.date(result.next_obligation.due_at))
        )
    await message.answer("\n".join(lines))


async def receive_ack_note(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
    bot: Bot,
) -> None:
    data = await state.get_data()
    event_hex = data.get("event_id")
    if not event_hex:
        await state.clear()
        return
    pressed = (
        (int(data["chat_id"]), int(data["message_id"]))
        if data.get("chat_id") and data.get("message_id")
        else None
    )
    try:
        result = await acknowledge(
            session, actor, uuid.UUID(hex=event_hex), message.text, pressed=pressed
        )
    except IntrexError:
        await state.clear()
        raise
    await state.clear()
    line = acknowledged_line(result, texts, actor.timezone)
    if data.get("chat_id") and data.get("message_id"):
        await mark_alert_message(
            bot, int(data["chat_id"]), int(data["message_id"]), data.get("text", ""), line
        )
    await message.answer(line)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="flows")
    guard(router)
    router.callback_query.register(cancel, CancelButton.filter())
    router.message.register(
        receive_proof, Flow.waiting_proof, F.document | F.photo, flags={NETWORK: True}
    )
    router.message.register(proof_expected, Flow.waiting_proof, ~F.text.startswith("/"))
    router.callback_query.register(
        attach_chosen, ObligationButton.filter(F.action == "attach"), flags={NETWORK: True}
    )
    router.message.register(
        receive_waive_reason, Flow.waiting_waive_reason, F.text, ~F.text.startswith("/")
    )
    router.message.register(
        receive_ack_note, Flow.waiting_ack_note, F.text, ~F.text.startswith("/")
    )
    router.message.register(unasked_file, F.document | F.photo)
    return router
