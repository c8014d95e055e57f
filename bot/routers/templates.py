"""/templates: head office sees its obligation templates and adopts the standard catalogue
from the chat (SPEC §3, §6).

Each template opens its details (what it says, where it applies, how many obligations are
open), with Deactivate or Activate; "Adopt from catalogue" lists the standard obligations,
each with Adopt (or ✓ when adopted already) and Adopt all. Every press names a template by
id or an entry by key only, and core re-checks the presser's role on each one, so a manager
or operator is refused in their language, on the command and on any button alike.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CatalogueButton, TemplateButton, TemplatePageButton
from bot.keyboards import button, markup
from bot.middlewares import guard
from bot.replies import edit_or_answer
from bot.texts import SEVERITY_MARK, clip, e, fit_lines
from core.errors import ErrorCode
from core.i18n import N_, Texts
from core.i18n.labels import label
from core.obligations.catalogue import (
    AdoptionReport,
    CatalogueEntry,
    adopt_catalogue,
    adopted_keys,
    catalogue,
)
from core.obligations.recurrence import Recurrence
from core.obligations.templates import (
    TemplateView,
    list_templates,
    refuse_unless_admin,
    set_template_active,
    template_details,
)
from core.parsing import parse_id
from core.tenancy.scope import Actor

PAGE_SIZE = 8
COUNTRY = "BD"
RECURRENCE_WORDS = {
    "none": N_("one-off"),
    "monthly": N_("monthly"),
    "quarterly": N_("quarterly"),
    "semiannual": N_("every six months"),
    "annual": N_("yearly"),
}


def recurrence_text(recurrence: Recurrence, texts: Texts) -> str:
    days = recurrence.days
    if days is not None:
        return texts.ngettext("every {count} day", "every {count} days", days).format(
            count=texts.number(days)
        )
    return texts.gettext(RECURRENCE_WORDS[recurrence.value])


def where_text(view: TemplateView, texts: Texts) -> str:
    if view.branch_code is not None:
        return _("branch {code}").format(code=view.branch_code)
    if view.jurisdiction_id is not None:
        return view.jurisdiction_name(texts.language.value) or ""
    return _("all branches")


def template_line(number: int, view: TemplateView, texts: Texts) -> str:
    mark = SEVERITY_MARK[view.severity] if view.active else "⏸"
    return _("{number}. {mark} <b>{title}</b> · {recurrence} · {where} · {open} open").format(
        number=texts.number(number),
        mark=mark,
        title=e(clip(view.title, 80)),
        recurrence=recurrence_text(view.recurrence, texts),
        where=e(where_text(view, texts)),
        open=texts.number(view.open_instances),
    )


def templates_text(views: list[TemplateView], page: int, texts: Texts) -> str:
    if not views:
        return _(
            "<b>Templates</b>\nNo templates yet: adopt the standard obligations from the "
            "catalogue below."
        )
    pages = max(1, -(-len(views) // PAGE_SIZE))
    lines = [
        _("<b>Templates</b> (page {page} of {pages}, {count} in all)").format(
            page=texts.number(page + 1), pages=texts.number(pages), count=texts.number(len(views))
        )
    ]
    start = page * PAGE_SIZE
    lines += [
        template_line(number, view, texts)
        for number, view in enumerate(views[start : start + PAGE_SIZE], start=start + 1)
    ]
    lines += ["", _("⏸ deactivated: no new obligations are made from it")]
    return fit_lines(lines)


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[start : start + width] for start in range(0, len(buttons), width)]


def templates_keyboard(views: list[TemplateView], page: int) -> InlineKeyboardMarkup:
    start = page * PAGE_SIZE
    shown = [
        button(f"{number} 🔎", TemplateButton(action="show", id=view.id.hex, page=page))
        for number, view in enumerate(views[start : start + PAGE_SIZE], start=start + 1)
    ]
    navigation = []
    if page > 0:
        navigation.append(button(_("◀ Previous"), TemplatePageButton(page=page - 1)))
    if start + PAGE_SIZE < len(views):
        navigation.append(button(_("Next ▶"), TemplatePageButton(page=page + 1)))
    adopt = [button(_("📚 Adopt from catalogue"), CatalogueButton(action="list"))]
    built = markup([*_rows(shown, 4), navigation, adopt])
    assert built is not None
    return built


def details_text(view: TemplateView, actor: Actor, texts: Texts) -> str:
    leads = ", ".join(texts.number(days) for days in view.reminder_lead_days)
    lines = [f"{SEVERITY_MARK[view.severity]} <b>{e(view.title)}</b>"]
    if view.description:
        lines.append(e(clip(view.description, 600)))
    lines += [
        _("Category: {category}").format(category=label(texts, view.category)),
        _("Recurrence: {recurrence}").format(recurrence=recurrence_text(view.recurrence, texts)),
        _("First due: {date}").format(
            date=texts.date(view.anchor_date) if view.anchor_date else "—"
        ),
        _("Severity: {severity}").format(severity=label(texts, view.severity)),
        _("Reminders: {days} days before").format(days=leads),
        _("Grace: {days} days after the due date").format(days=texts.number(view.grace_days)),
        _("Proof required: {answer}").format(answer=_("yes") if view.proof_required else _("no")),
        _("Owner: {name}").format(name=e(view.owner_name or "—")),
        _("Applies to: {where}").format(where=e(where_text(view, texts))),
        _("Status: {status}").format(status=_("active") if view.active else _("deactivated")),
        _("Open obligations: {count}").format(count=texts.number(view.open_instances)),
    ]
    return fit_lines(lines)


def details_keyboard(view: TemplateView, page: int) -> InlineKeyboardMarkup:
    hex_id = view.id.hex
    toggle = (
        button(_("⏸ Deactivate"), TemplateButton(action="deactivate", id=hex_id, page=page))
        if view.active
        else button(_("▶ Activate"), TemplateButton(action="activate", id=hex_id, page=page))
    )
    back = button(_("⬅ Back to list"), TemplatePageButton(page=page))
    return InlineKeyboardMarkup(inline_keyboard=[[toggle], [back]])


def catalogue_text(entries: tuple[CatalogueEntry, ...], adopted: set[str], texts: Texts) -> str:
    language = texts.language.value
    lines = [_("<b>Standard obligations</b>: adopt them, then adjust each in /templates.")]
    for number, entry in enumerate(entries, start=1):
        lines.append(
            _("{number}. {mark} <b>{title}</b> · {recurrence} · {severity}").format(
                number=texts.number(number),
                mark="✓" if entry.key in adopted else SEVERITY_MARK[entry.severity],
                title=e(entry.title(language)),
                recurrence=recurrence_text(entry.recurrence, texts),
                severity=label(texts, entry.severity),
            )
        )
    lines += ["", _("✓ adopted already")]
    return fit_lines(lines)


def catalogue_keyboard(
    entries: tuple[CatalogueEntry, ...], adopted: set[str]
) -> InlineKeyboardMarkup:
    choices = [
        button(
            _("{number} ✓ adopted").format(number=number)
            if entry.key in adopted
            else _("{number} 📥 Adopt").format(number=number),
            CatalogueButton(action="adopt", key=entry.key),
        )
        for number, entry in enumerate(entries, start=1)
    ]
    rows = _rows(choices, 3)
    if len(adopted) < len(entries):
        rows.append([button(_("📥 Adopt all"), CatalogueButton(action="all"))])
    rows.append([button(_("⬅ Back to templates"), TemplatePageButton(page=0))])
    built = markup(rows)
    assert built is not None
    return built


async def render_templates(
    session: AsyncSession, actor: Actor, texts: Texts, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    views = await list_templates(session, actor, include_inactive=True)
    last = max(0, (len(views) - 1) // PAGE_SIZE)
    page = min(page, last)
    return templates_text(views, page, texts), templates_keyboard(views, page)


async def templates(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    text, keyboard = await render_templates(session, actor, texts, 0)
    await message.answer(text, reply_markup=keyboard)


async def templates_page(
    callback: CallbackQuery,
    callback_data: TemplatePageButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    text, keyboard = await render_templates(session, actor, texts, callback_data.page)
    await edit_or_answer(callback, text, keyboard)
    await callback.answer()


async def template_action(
    callback: CallbackQuery,
    callback_data: TemplateButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    """A template's details, and deactivating or activating it from there."""
    template_id = parse_id(callback_data.id, ErrorCode.template_not_found)
    action = callback_data.action
    if action == "show":
        view = await template_details(session, actor, template_id)
        popup = None
    elif action in ("deactivate", "activate"):
        view, changed = await set_template_active(session, actor, template_id, action == "activate")
        if action == "activate":
            popup = _("▶ Activated.") if changed else _("Already active.")
        else:
            popup = (
                _("⏸ Deactivated: no new obligations.") if changed else _("Already deactivated.")
            )
    else:
        refuse_unless_admin(actor)
        await callback.answer(_("This button is no longer valid."), show_alert=True)
        return
    await edit_or_answer(
        callback, details_text(view, actor, texts), details_keyboard(view, callback_data.page)
    )
    await callback.answer(popup)


def adoption_popup(report: AdoptionReport, texts: Texts) -> str:
    if not report.adopted:
        return _("Already adopted.")
    return _("✅ Templates adopted: {count}. Obligations created: {instances}.").format(
        count=texts.number(len(report.adopted)), instances=texts.number(report.instances_created)
    )


async def catalogue_action(
    callback: CallbackQuery,
    callback_data: CatalogueButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    """The catalogue with what is adopted already; Adopt one entry, or all of them."""
    action = callback_data.action
    popup = None
    if action == "adopt":
        popup = adoption_popup(await adopt_catalogue(session, actor, [callback_data.key]), texts)
    elif action == "all":
        popup = adoption_popup(await adopt_catalogue(session, actor, None), texts)
    elif action != "list":
        refuse_unless_admin(actor)
        await callback.answer(_("This button is no longer valid."), show_alert=True)
        return
    entries = catalogue(COUNTRY)
    adopted = await adopted_keys(session, actor)
    await edit_or_answer(
        callback, catalogue_text(entries, adopted, texts), catalogue_keyboard(entries, adopted)
    )
    await callback.answer(popup)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="templates")
    guard(router)
    router.message.register(templates, Command("templates"))
    router.callback_query.register(templates_page, TemplatePageButton.filter())
    router.callback_query.register(template_action, TemplateButton.filter())
    router.callback_query.register(catalogue_action, CatalogueButton.filter())
    return router
