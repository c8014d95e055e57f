"""/obligations and its buttons: list and page (`/obligations mine`: what the person owns),
details with the owner and proof files, complete, reopen, and starting a proof upload or a
waiver.

Handlers are thin: the unit of work and the actor come from the middleware, core's
services do the work and raise typed refusals (worded by the errors router), the policy
says which buttons to show.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import DocumentButton, ObligationButton, ObligationPageButton
from bot.keyboards import (
    cancel_keyboard,
    details_keyboard,
    obligations_keyboard,
    proof_then_complete,
)
from bot.middlewares import NETWORK, guard
from bot.replies import edit_or_answer
from bot.states import Flow
from bot.texts import STATUS_MARK, e, fit_lines
from core.config import Settings
from core.db.driver import DriverReads
from core.errors import ErrorCode, IntrexError
from core.i18n import N_, Texts
from core.i18n.errors import render_error
from core.i18n.labels import label
from core.obligations import policy
from core.obligations.actions import complete_obligation, reopen_obligation, waivable
from core.obligations.documents import UploadLimits, accept_proof, read_document
from core.obligations.parsing import parse_instance_id, parse_window
from core.obligations.queries import list_open_obligations, obligation_details
from core.obligations.views import ObligationPage, Window
from core.parsing import parse_id
from core.storage import DocumentStorage
from core.tenancy.scope import Actor, ActorUnits

PAGE_SIZE = 5
WINDOW_TITLES = {
    Window.overdue: N_("Overdue obligations"),
    Window.today: N_("Due today"),
    Window.week: N_("Due within 7 days"),
    Window.all: N_("Open obligations"),
    Window.mine: N_("Your obligations"),
}


def item_line(number: int, title: str, branch: str, when: str, proof: bool, mark: str) -> str:
    text = _("{number}. {mark} <b>{title}</b>, {branch}, {when}").format(
        number=number, mark=mark, title=e(title), branch=e(branch), when=when
    )
    return text + (_(" 📎 proof needed") if proof else "")


def page_text(
    page: ObligationPage, window: Window, texts: Texts, allowed: list[tuple[bool, bool]]
) -> str:
    title = _(WINDOW_TITLES[window])
    if not page.items:
        if page.page:
            empty = _("No more.")
        elif window is Window.mine:
            empty = _("You own no open obligation. 🎉")
        else:
            empty = _("Nothing here. 🎉")
        return f"<b>{title}</b>\n{empty}"
    lines = [
        _("<b>{title}</b> (page {page})").format(title=title, page=texts.number(page.page + 1))
    ]
    for number, item in enumerate(page.items, start=1 + page.page * page.page_size):
        when = f"{texts.date(item.due_at)} ({texts.days_left(item.days_left)})"
        lines.append(
            item_line(
                number,
                item.title,
                item.branch_code,
                when,
                item.proof_required,
                STATUS_MARK.get(item.status, ""),
            )
        )
    waive = any(may_waive for _act, may_waive in allowed)
    lines.append("")
    lines.append(
        _("✅ complete · 📎 proof · 🔎 details · ✋ waive")
        if waive
        else _("✅ complete · 📎 proof · 🔎 details")
    )
    return fit_lines(lines)


def page_reply(
    page: ObligationPage, window: Window, actor: Actor, texts: Texts
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page's text and buttons; the policy is asked once per item, for both."""
    allowed = [
        (policy.can_complete(actor, item), policy.can_waive(actor, item)) for item in page.items
    ]
    return page_text(page, window, texts, allowed), obligations_keyboard(
        page, window.value, allowed
    )


async def render_page(
    reads: DriverReads, actor: Actor, texts: Texts, window: Window, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    listing = await list_open_obligations(
        reads, actor, window=window, page=page, page_size=PAGE_SIZE
    )
    return page_reply(listing, window, actor, texts)


async def obligations(
    message: Message,
    command: CommandObject,
    reads: DriverReads,
    actor: Actor,
    texts: Texts,
) -> None:
    window = parse_window((command.args or "").strip() or None)
    text, markup = await render_page(reads, actor, texts, window, 0)
    await message.answer(text, reply_markup=markup)


async def obligations_page(
    callback: CallbackQuery,
    callback_data: ObligationPageButton,
    reads: DriverReads,
    actor: Actor,
    texts: Texts,
) -> None:
    window = parse_window(callback_data.window)
    text, markup = await render_page(reads, actor, texts, window, callback_data.page)
    await edit_or_answer(callback, text, markup)
    await callback.answer()


async def details(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    found = await obligation_details(session, actor, parse_instance_id(callback_data.id))
    item = found.obligation
    lines = [
        f"{STATUS_MARK.get(item.status, '')} <b>{e(item.title)}</b>",
        _("Branch: {code}, {name}").format(code=e(item.branch_code), name=e(item.branch_name)),
        _("Category: {category}, severity {severity}").format(
            category=label(texts, item.category), severity=label(texts, item.severity)
        ),
        _("Due: {date} ({when})").format(
            date=texts.date(item.due_at), when=texts.days_left(item.days_left)
        )
        if item.status.is_open
        else _("Due: {date}").format(date=texts.date(item.due_at)),
        _("Status: {status}").format(status=label(texts, item.status)),
    ]
    if found.owner_name:
        lines.append(_("Owner: {name}").format(name=e(found.owner_name)))
    if item.description:
        lines.append(e(item.description))
    if item.proof_required:
        lines.append(_("Proof is required before completing."))
    if item.completed_at:
        lines.append(
            _("Completed on {moment}").format(
                moment=texts.moment(item.completed_at, actor.timezone)
            )
        )
    if item.waived_at:
        lines.append(
            _("Waived on {moment}: {reason}").format(
                moment=texts.moment(item.waived_at, actor.timezone),
                reason=e(item.waive_reason or ""),
            )
        )
    if found.documents:
        lines.append(_("Proof files:"))
        lines += [
            f"• {e(document.filename)} ({texts.size(document.size_bytes)}, "
            f"{texts.moment(document.created_at, actor.timezone)})"
            for document in found.documents
        ]
    markup = details_keyboard(
        item,
        found.documents,
        can_complete=policy.can_complete(actor, item),
        can_upload=policy.can_upload_proof(actor, item),
        can_waive=policy.can_waive(actor, item),
        can_reopen=policy.can_reopen(actor, item),
    )
    await edit_or_answer(callback, fit_lines(lines), markup)
    await callback.answer()


async def send_document(
    callback: CallbackQuery,
    callback_data: DocumentButton,
    units: ActorUnits,
    storage: DocumentStorage,
) -> None:
    """A proof file back into the chat, under its original name (network: the upload)."""
    async with units() as (session, actor):
        document_id = parse_id(callback_data.id, ErrorCode.document_not_found)
        document, data = await read_document(session, actor, document_id, storage)
    await callback.answer()
    if callback.message is not None:
        await callback.message.answer_document(BufferedInputFile(data, filename=document.filename))


async def complete(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    instance_id = parse_instance_id(callback_data.id)
    try:
        result = await complete_obligation(session, actor, instance_id)
    except IntrexError as exc:
        if exc.code is not ErrorCode.obligation_needs_proof:
            raise
        await callback.answer(_("Upload the proof first."))
        await edit_or_answer(
            callback,
            e(render_error(exc, texts.language, actor.timezone)),
            proof_then_complete(instance_id),
        )
        return
    lines = [
        _("✅ Completed: <b>{title}</b> ({branch})").format(
            title=e(result.obligation.title), branch=e(result.obligation.branch_code)
        )
    ]
    if result.next_obligation is not None:
        lines.append(
            _("Next one due {date}.").format(date=texts.date(result.next_obligation.due_at))
        )
    await edit_or_answer(callback, "\n".join(lines))
    await callback.answer(_("Completed"))


async def reopen(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    view = await reopen_obligation(session, actor, parse_instance_id(callback_data.id))
    await edit_or_answer(
        callback,
        _("↩️ Reopened: <b>{title}</b>, {when}.").format(
            title=e(view.title), when=texts.days_left(view.days_left)
        ),
    )
    await callback.answer(_("Reopened"))


async def ask_for_proof(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
    state: FSMContext,
    settings: Settings,
) -> None:
    view = await accept_proof(
        session,
        actor,
        parse_instance_id(callback_data.id),
        None,
        UploadLimits.from_settings(settings),
    )
    await state.set_state(Flow.waiting_proof)
    await state.set_data({"instance_id": view.id.hex})
    await edit_or_answer(
        callback,
        _(
            "📎 Send the proof for <b>{title}</b> as a document or photo "
            "(PDF, JPEG, PNG, WebP, HEIC, DOCX or XLSX, up to {limit})."
        ).format(title=e(view.title), limit=texts.size(settings.max_document_bytes)),
        cancel_keyboard(),
    )
    await callback.answer()


async def ask_for_waive_reason(
    callback: CallbackQuery,
    callback_data: ObligationButton,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    view = await waivable(session, actor, parse_instance_id(callback_data.id))
    await state.set_state(Flow.waiting_waive_reason)
    await state.set_data({"instance_id": view.id.hex})
    await edit_or_answer(
        callback,
        _("✋ Why is <b>{title}</b> waived? Reply with the reason.").format(title=e(view.title)),
        cancel_keyboard(),
    )
    await callback.answer()


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="obligations")
    guard(router)
    router.message.register(obligations, Command("obligations"))
    router.callback_query.register(obligations_page, ObligationPageButton.filter())
    router.callback_query.register(details, ObligationButton.filter(F.action == "details"))
    router.callback_query.register(send_document, DocumentButton.filter(), flags={NETWORK: True})
    router.callback_query.register(complete, ObligationButton.filter(F.action == "complete"))
    router.callback_query.register(reopen, ObligationButton.filter(F.action == "reopen"))
    router.callback_query.register(ask_for_proof, ObligationButton.filter(F.action == "proof"))
    router.callback_query.register(
        ask_for_waive_reason, ObligationButton.filter(F.action == "waive")
    )
    return router
