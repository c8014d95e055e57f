"""/obligations and its buttons: list and page, details, complete, and starting proof or waiver."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.callbacks import ObligationButton, ObligationPageButton
from bot.keyboards import (
    cancel_keyboard,
    details_keyboard,
    obligations_keyboard,
    proof_then_complete,
)
from bot.middlewares import LinkedOnlyMiddleware
from bot.replies import clip, edit_or_answer, refuse
from bot.states import Flow
from bot.texts import STATUS_MARK, days_phrase, e, local_time
from core.config import Settings
from core.db.enums import AppRole, ObligationStatus
from core.db.session import Database
from core.errors import IntrexError
from core.obligations.documents import human_size
from core.obligations.service import (
    complete_obligation,
    list_open_obligations,
    obligation_details,
    parse_instance_id,
    parse_window,
    reopen_obligation,
)
from core.obligations.views import ObligationDetails, ObligationPage, Window
from core.tenancy.models import Tenant, User

PAGE_SIZE = 5
MANAGERS = frozenset({AppRole.head_office_admin, AppRole.branch_manager})
CLOSED = frozenset({ObligationStatus.completed, ObligationStatus.waived})
ALLOWED_PROOF = "PDF, JPEG, PNG, WebP, HEIC, DOCX or XLSX"


def page_text(page: ObligationPage, window: Window, *, can_waive: bool) -> str:
    title = {
        Window.overdue: "Overdue obligations",
        Window.today: "Due today",
        Window.week: "Due within 7 days",
        Window.all: "Open obligations",
    }[window]
    if not page.items:
        return (
            f"<b>{title}</b>\nNothing here. 🎉" if page.page == 0 else f"<b>{title}</b>\nNo more."
        )
    lines = [f"<b>{title}</b> (page {page.page + 1})"]
    for number, item in enumerate(page.items, start=1 + page.page * page.page_size):
        proof = " 📎 proof needed" if item.proof_required else ""
        lines.append(
            f"{number}. {STATUS_MARK.get(item.status, '')} <b>{e(item.title)}</b> — "
            f"{e(item.branch_code)}, {item.due_at:%d %b %Y} ({days_phrase(item.days_left)}){proof}"
        )
    lines.append("\n✅ complete · 📎 proof · 🔎 details" + (" · ✋ waive" if can_waive else ""))
    return "\n".join(lines)


async def details_or_refuse(
    callback: CallbackQuery, callback_data: ObligationButton, db: Database, user: User
) -> ObligationDetails | None:
    """The pressed obligation if this user may see it now; otherwise the refusal, and None."""
    try:
        return await obligation_details(db, user, parse_instance_id(callback_data.id))
    except IntrexError as exc:
        await refuse(callback, exc.message)
        return None


async def render_page(
    db: Database, user: User, window: Window, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    listing = await list_open_obligations(db, user, window=window, page=page, page_size=PAGE_SIZE)
    can_waive = user.role in MANAGERS
    return (
        page_text(listing, window, can_waive=can_waive),
        obligations_keyboard(listing, window.value, can_waive=can_waive),
    )


async def obligations(message: Message, command: CommandObject, db: Database, user: User) -> None:
    try:
        window = parse_window((command.args or "").strip() or None)
        text, markup = await render_page(db, user, window, 0)
    except IntrexError as exc:
        await refuse(message, f"{exc.message} Try /obligations overdue, today, week or all.")
        return
    await message.answer(text, reply_markup=markup)


async def obligations_page(
    callback: CallbackQuery, callback_data: ObligationPageButton, db: Database, user: User
) -> None:
    try:
        window = parse_window(callback_data.window)
        text, markup = await render_page(db, user, window, max(0, callback_data.page))
    except IntrexError as exc:
        await refuse(callback, exc.message)
        return
    await edit_or_answer(callback, text, markup)
    await callback.answer()


async def details(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    db: Database,
    user: User,
    tenant: Tenant,
) -> None:
    found = await details_or_refuse(callback, callback_data, db, user)
    if found is None:
        return
    item = found.obligation
    lines = [
        f"{STATUS_MARK.get(item.status, '')} <b>{e(item.title)}</b>",
        f"Branch: {e(item.branch_code)} — {e(item.branch_name)}",
        f"Category: {e(item.category.value.replace('_', ' '))}, severity {e(item.severity.value)}",
        f"Due: {item.due_at:%d %b %Y} ({days_phrase(item.days_left)})",
        f"Repeats: {e(item.recurrence)}",
        f"Status: {e(item.status.value.replace('_', ' '))}",
    ]
    if item.description:
        lines.append(e(item.description))
    if item.proof_required:
        lines.append("Proof is required before completing.")
    if item.completed_at:
        lines.append(f"Completed {local_time(item.completed_at, tenant.timezone)}")
    if item.waived_at:
        lines.append(
            f"Waived {local_time(item.waived_at, tenant.timezone)}: {e(item.waive_reason or '')}"
        )
    if found.documents:
        lines.append("Proof:")
        lines += [
            f"• {e(d.filename)} ({human_size(d.size_bytes)}, "
            f"{local_time(d.created_at, tenant.timezone)})"
            for d in found.documents
        ]
    markup = details_keyboard(
        item,
        can_complete=found.can_complete or (item.proof_required and not found.documents),
        can_waive=found.can_waive,
        can_reopen=found.can_reopen,
        window=Window.all.value,
    )
    await edit_or_answer(callback, "\n".join(lines), markup)
    await callback.answer()


async def complete(
    callback: CallbackQuery, callback_data: ObligationButton, db: Database, user: User
) -> None:
    try:
        instance_id = parse_instance_id(callback_data.id)
        result = await complete_obligation(db, user, instance_id)
    except IntrexError as exc:
        if "needs proof" in exc.message:
            await callback.answer("Upload the proof first.", show_alert=False)
            await edit_or_answer(
                callback, e(clip(exc.message, 3000)), proof_then_complete(instance_id)
            )
            return
        await refuse(callback, exc.message)
        return
    text = f"✅ Completed: <b>{e(result.obligation.title)}</b> ({e(result.obligation.branch_code)})"
    if result.next_obligation is not None:
        text += f"\nNext one due {result.next_obligation.due_at:%d %b %Y}."
    await edit_or_answer(callback, text)
    await callback.answer("Completed")


async def reopen(
    callback: CallbackQuery, callback_data: ObligationButton, db: Database, user: User
) -> None:
    try:
        view = await reopen_obligation(db, user, parse_instance_id(callback_data.id))
    except IntrexError as exc:
        await refuse(callback, exc.message)
        return
    await edit_or_answer(
        callback, f"↩️ Reopened: <b>{e(view.title)}</b>, {days_phrase(view.days_left)}."
    )
    await callback.answer("Reopened")


async def ask_for_proof(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    db: Database,
    user: User,
    state: FSMContext,
    settings: Settings,
) -> None:
    found = await details_or_refuse(callback, callback_data, db, user)
    if found is None:
        return
    if found.obligation.status in CLOSED:
        await refuse(callback, f"This obligation is already {found.obligation.status.value}.")
        return
    await state.set_state(Flow.waiting_proof)
    await state.set_data({"instance_id": found.obligation.id.hex})
    await edit_or_answer(
        callback,
        f"📎 Send the proof for <b>{e(found.obligation.title)}</b> as a document or photo "
        f"({ALLOWED_PROOF}, up to {human_size(settings.max_document_bytes)}).",
        cancel_keyboard(),
    )
    await callback.answer()


async def ask_for_waive_reason(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    db: Database,
    user: User,
    state: FSMContext,
) -> None:
    found = await details_or_refuse(callback, callback_data, db, user)
    if found is None:
        return
    if not found.can_waive:
        await refuse(callback, "Only branch managers and head office can waive an open obligation.")
        return
    await state.set_state(Flow.waiting_waive_reason)
    await state.set_data({"instance_id": found.obligation.id.hex})
    await edit_or_answer(
        callback,
        f"✋ Why is <b>{e(found.obligation.title)}</b> waived? Reply with the reason.",
        cancel_keyboard(),
    )
    await callback.answer()


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="obligations")
    router.message.middleware(LinkedOnlyMiddleware())
    router.callback_query.middleware(LinkedOnlyMiddleware())
    router.message.register(obligations, Command("obligations"))
    router.callback_query.register(obligations_page, ObligationPageButton.filter())
    router.callback_query.register(details, ObligationButton.filter(F.action == "details"))
    router.callback_query.register(complete, ObligationButton.filter(F.action == "complete"))
    router.callback_query.register(reopen, ObligationButton.filter(F.action == "reopen"))
    router.callback_query.register(ask_for_proof, ObligationButton.filter(F.action == "proof"))
    router.callback_query.register(
        ask_for_waive_reason, ObligationButton.filter(F.action == "waive")
    )
    return router
