"""Inline keyboards, built from the CallbackData factories, labelled in the reader's language.

Rows are assembled directly: aiogram's InlineKeyboardBuilder deep-copies the whole markup
on every added button, which made a 20-button obligations page cost milliseconds. Which
buttons appear is the policy's answer, passed in by the handler.
"""

from __future__ import annotations

import uuid

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import (
    AlertButton,
    CancelButton,
    DocumentButton,
    InviteButton,
    LanguageButton,
    ObligationButton,
    ObligationPageButton,
    PeoplePageButton,
    PersonBranchButton,
    PersonButton,
    PersonRoleButton,
)
from bot.texts import clip
from core.db.enums import AppRole, Language
from core.i18n import Texts
from core.i18n.labels import label
from core.obligations.views import DocumentView, ObligationPage, ObligationView
from core.tenancy.invites import InviteView
from core.tenancy.people import BranchChoice, PeoplePage, PersonView


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    kept = [row for row in rows if row]
    return InlineKeyboardMarkup(inline_keyboard=kept) if kept else None


def obligation_row(
    number: int, item: ObligationView, *, can_act: bool, can_waive: bool
) -> list[InlineKeyboardButton]:
    hex_id = item.id.hex
    actions = [(f"{number} 🔎", "details")]
    if can_act:
        actions = [(f"{number} ✅", "complete"), (f"{number} 📎", "proof"), *actions]
    if can_waive:
        actions.append((f"{number} ✋", "waive"))
    return [button(text, ObligationButton(action=action, id=hex_id)) for text, action in actions]


def obligations_keyboard(
    page: ObligationPage, window: str, allowed: list[tuple[bool, bool]]
) -> InlineKeyboardMarkup | None:
    """`allowed[i]`: (may complete and upload, may waive) for the page's i-th item."""
    rows = [
        obligation_row(number, item, can_act=act, can_waive=waive)
        for (number, item), (act, waive) in zip(
            enumerate(page.items, start=1 + page.page * page.page_size), allowed, strict=True
        )
    ]
    navigation = []
    if page.page > 0:
        navigation.append(
            button(_("◀ Previous"), ObligationPageButton(window=window, page=page.page - 1))
        )
    if page.has_more:
        navigation.append(
            button(_("Next ▶"), ObligationPageButton(window=window, page=page.page + 1))
        )
    return markup([*rows, navigation])


def details_keyboard(
    item: ObligationView,
    documents: list[DocumentView],
    *,
    can_complete: bool,
    can_upload: bool,
    can_waive: bool,
    can_reopen: bool,
) -> InlineKeyboardMarkup:
    hex_id = item.id.hex
    actions: list[InlineKeyboardButton] = []
    if can_complete:
        actions.append(button(_("✅ Complete"), ObligationButton(action="complete", id=hex_id)))
    if can_upload:
        actions.append(button(_("📎 Upload proof"), ObligationButton(action="proof", id=hex_id)))
    if can_waive:
        actions.append(button(_("✋ Waive"), ObligationButton(action="waive", id=hex_id)))
    if can_reopen:
        actions.append(button(_("↩️ Reopen"), ObligationButton(action="reopen", id=hex_id)))
    files = [
        [button(f"📄 {clip(document.filename, 40)}", DocumentButton(id=document.id.hex))]
        for document in documents[:MAX_FILE_BUTTONS]
    ]
    back = [button(_("⬅ Back to list"), ObligationPageButton(window="all", page=0))]
    built = markup([actions[:2], actions[2:], *files, back])
    assert built is not None
    return built


MAX_FILE_BUTTONS = 20
"""Telegram allows 100 buttons; a Details message with more files lists the first ones."""


def _single(text: str, data: CallbackData) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[button(text, data)]])


def proof_then_complete(item_id: uuid.UUID) -> InlineKeyboardMarkup:
    return _single(_("📎 Upload proof"), ObligationButton(action="proof", id=item_id.hex))


def complete_now(item_id: uuid.UUID) -> InlineKeyboardMarkup:
    return _single(_("✅ Complete now"), ObligationButton(action="complete", id=item_id.hex))


def cancel_keyboard() -> InlineKeyboardMarkup:
    return _single(_("Cancel"), CancelButton())


def proof_targets_keyboard(items: list[ObligationView]) -> InlineKeyboardMarkup | None:
    """One button per open obligation a file sent out of the blue could be proof for."""
    rows = [
        [
            button(
                f"📎 {number}. {clip(item.title, 40)} ({item.branch_code})",
                ObligationButton(action="attach", id=item.id.hex),
            )
        ]
        for number, item in enumerate(items, start=1)
    ]
    return markup([*rows, [button(_("Cancel"), CancelButton())]])


def alert_keyboard(event_id: uuid.UUID, texts: Texts) -> InlineKeyboardMarkup:
    """On a delivered alert (sent by the worker, outside any update: the language is given)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(texts.gettext("✅ Acknowledge"), AlertButton(action="ack", id=event_id.hex)),
                button(
                    texts.gettext("📝 With a note"), AlertButton(action="note", id=event_id.hex)
                ),
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


def language_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(label(texts, language), LanguageButton(language=language.value))
                for language in Language
            ]
        ]
    )


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[start : start + width] for start in range(0, len(buttons), width)]


def _navigation(
    page: int, has_more: bool, data: type[PeoplePageButton]
) -> list[InlineKeyboardButton]:
    navigation = []
    if page > 0:
        navigation.append(button(_("◀ Previous"), data(page=page - 1)))
    if has_more:
        navigation.append(button(_("Next ▶"), data(page=page + 1)))
    return navigation


def people_keyboard(page: PeoplePage) -> InlineKeyboardMarkup | None:
    """A button per person (their card), four to a row, then the page buttons."""
    people = [
        button(f"{number} 👤", PersonButton(action="show", id=person.id))
        for number, person in enumerate(page.items, start=1 + page.page * page.page_size)
    ]
    return markup([*_rows(people, 4), _navigation(page.page, page.has_more, PeoplePageButton)])


def person_keyboard(person: PersonView, *, can_manage: bool) -> InlineKeyboardMarkup:
    """A person's card: head office may disable or enable, change role and branches."""
    actions: list[InlineKeyboardButton] = []
    if can_manage:
        if person.active:
            actions.append(button(_("⛔ Disable"), PersonButton(action="disable", id=person.id)))
        else:
            actions.append(button(_("✅ Enable"), PersonButton(action="enable", id=person.id)))
        actions.append(button(_("🎭 Change role"), PersonButton(action="role", id=person.id)))
        if not person.role.head_office:
            actions.append(
                button(_("🏢 Change branches"), PersonButton(action="branches", id=person.id))
            )
    back = [button(_("⬅ Back to list"), PeoplePageButton(page=0))]
    built = markup([*_rows(actions, 2), back])
    assert built is not None
    return built


def role_keyboard(person: PersonView, texts: Texts) -> InlineKeyboardMarkup:
    """The roles the person could be given instead of theirs."""
    roles = [
        button(label(texts, role).capitalize(), PersonRoleButton(id=person.id, role=role.value))
        for role in AppRole
        if role is not person.role
    ]
    back = [button(_("⬅ Back"), PersonButton(action="show", id=person.id))]
    built = markup([roles, back])
    assert built is not None
    return built


BRANCHES_PER_PAGE = 30
"""Branch buttons on one page (Telegram allows 100 buttons a message)."""


def first_branch_keyboard(
    person: PersonView, role: AppRole, branches: list[BranchChoice], page: int
) -> InlineKeyboardMarkup:
    """A role that acts for branches needs a first one: each button gives role and branch."""
    shown = branches[page * BRANCHES_PER_PAGE : (page + 1) * BRANCHES_PER_PAGE]
    choices = [
        button(
            branch.code,
            PersonRoleButton(id=person.id, role=role.value, branch=branch.id.hex),
        )
        for branch in shown
    ]
    back = [button(_("⬅ Back"), PersonButton(action="role", id=person.id))]
    built = markup([*_rows(choices, 3), back])
    assert built is not None
    return built


def branches_keyboard(
    person: PersonView, branches: list[BranchChoice], page: int
) -> InlineKeyboardMarkup:
    """Every active branch, ticked where the person acts for it; a press adds or removes."""
    shown = branches[page * BRANCHES_PER_PAGE : (page + 1) * BRANCHES_PER_PAGE]
    chosen = set(person.branch_ids)
    toggles = [
        button(
            f"{'✅' if branch.id in chosen else '▫️'} {branch.code}",
            PersonBranchButton(id=person.id, branch=branch.id.hex, page=page),
        )
        for branch in shown
    ]
    navigation = []
    if page > 0:
        navigation.append(
            button(_("◀ Previous"), PersonButton(action="branches", id=person.id, page=page - 1))
        )
    if (page + 1) * BRANCHES_PER_PAGE < len(branches):
        navigation.append(
            button(_("Next ▶"), PersonButton(action="branches", id=person.id, page=page + 1))
        )
    done = [button(_("✔ Done"), PersonButton(action="show", id=person.id))]
    built = markup([*_rows(toggles, 3), navigation, done])
    assert built is not None
    return built


def invites_keyboard(invites: list[InviteView]) -> InlineKeyboardMarkup | None:
    revoke = [
        button(
            _("{number} 🚫 Revoke").format(number=number),
            InviteButton(action="revoke", id=invite.id.hex),
        )
        for number, invite in enumerate(invites, start=1)
    ]
    return markup(_rows(revoke, 3))
