"""/users, /invites and /invite: head office manages its people from the chat (SPEC §5).

Managers see the people of their branches read-only; head office also disables and
enables, changes roles and branches, and revokes invites. Every press names a person or an
invite by id only: core reloads it under the actor's policy, so a forged or stale button
changes nothing it should not.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    InviteButton,
    PeoplePageButton,
    PersonBranchButton,
    PersonButton,
    PersonRoleButton,
)
from bot.keyboards import (
    branches_keyboard,
    first_branch_keyboard,
    invites_keyboard,
    people_keyboard,
    person_keyboard,
    role_keyboard,
)
from bot.middlewares import guard
from bot.replies import edit_or_answer
from bot.texts import clip, e, fit_lines
from core.db.enums import AppRole, Language
from core.errors import ErrorCode, PermissionDeniedError, ValidationError
from core.i18n import Texts
from core.i18n.labels import label
from core.parsing import parse_id
from core.tenancy import policy
from core.tenancy.invites import (
    InviteRequest,
    InviteView,
    create_invite,
    list_invites,
    revoke_invite,
)
from core.tenancy.people import (
    PeoplePage,
    PersonChanges,
    PersonView,
    assignable_branches,
    list_people,
    parse_role,
    person_details,
    set_person_active,
    toggle_branch,
    update_person,
)
from core.tenancy.scope import Actor

PAGE_SIZE = 8
INVITES_SHOWN = 30
USAGE_INVITE = "/invite ROLE [BRANCH_CODE...] [EMAIL] (head_office_admin, branch_manager, operator)"


def status_mark(person: PersonView) -> str:
    """🟢 active and linked, ⏳ invited and not linked yet, ⛔ disabled."""
    if not person.active:
        return "⛔"
    return "🟢" if person.linked else "⏳"


def branches_text(person: PersonView) -> str:
    if person.role.head_office:
        return _("all branches")
    return ", ".join(person.branch_codes) or _("no branch yet")


def people_text(page: PeoplePage, actor: Actor, texts: Texts) -> str:
    if not page.items:
        return _("<b>People</b>\nNobody here yet.")
    lines = [
        _("<b>People</b> (page {page} of {pages}, {count} in all)").format(
            page=texts.number(page.page + 1),
            pages=texts.number(page.pages),
            count=texts.number(page.total),
        )
    ]
    for number, person in enumerate(page.items, start=1 + page.page * page.page_size):
        seen = texts.moment(person.last_seen_at, actor.timezone)
        lines.append(
            _("{number}. {mark} <b>{name}</b>, {role}, {branches} · seen {seen}").format(
                number=texts.number(number),
                mark=status_mark(person),
                name=e(clip(person.name, 80)),
                role=label(texts, person.role),
                branches=e(branches_text(person)),
                seen=seen,
            )
        )
    lines += ["", _("🟢 active · ⏳ invited, not linked yet · ⛔ disabled")]
    return fit_lines(lines)


def person_text(person: PersonView, actor: Actor, texts: Texts) -> str:
    if person.linked:
        telegram = _("linked ({name})").format(
            name=e(person.telegram_name or person.telegram_username or "")
        )
    elif person.invite_expires_at is not None:
        telegram = _("not linked yet: invite open until {moment}").format(
            moment=texts.moment(person.invite_expires_at, actor.timezone)
        )
    else:
        telegram = _("not linked")
    language = label(texts, Language(person.language)) if person.language else _("not chosen")
    lines = [
        f"{status_mark(person)} <b>{e(person.name)}</b>",
        _("Role: {role}").format(role=label(texts, person.role)),
        _("Branches: {branches}").format(branches=e(branches_text(person))),
        _("Status: {status}").format(status=label(texts, person.status)),
        _("Email: {email}").format(email=e(person.email or "—")),
        _("Language: {language}").format(language=language),
        _("Telegram: {telegram}").format(telegram=telegram),
        _("Last seen: {moment}").format(moment=texts.moment(person.last_seen_at, actor.timezone)),
        _("Open obligations owned: {count}").format(count=texts.number(person.open_owned or 0)),
    ]
    return fit_lines(lines)


async def render_people(
    session: AsyncSession, actor: Actor, texts: Texts, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    listing = await list_people(session, actor, page=page, page_size=PAGE_SIZE)
    return people_text(listing, actor, texts), people_keyboard(listing)


async def users(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    text, markup = await render_people(session, actor, texts, 0)
    await message.answer(text, reply_markup=markup)


async def users_page(
    callback: CallbackQuery,
    callback_data: PeoplePageButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    text, markup = await render_people(session, actor, texts, callback_data.page)
    await edit_or_answer(callback, text, markup)
    await callback.answer()


async def show_card(
    callback: CallbackQuery, person: PersonView, actor: Actor, texts: Texts
) -> None:
    await edit_or_answer(
        callback,
        person_text(person, actor, texts),
        person_keyboard(person, can_manage=policy.can_manage_people(actor)),
    )


async def person_action(
    callback: CallbackQuery,
    callback_data: PersonButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    """A person's card and what can be done from it."""
    action, user_id = callback_data.action, callback_data.id
    if action == "show":
        await show_card(callback, await person_details(session, actor, user_id), actor, texts)
        await callback.answer()
        return
    if action in ("disable", "enable"):
        person, changed = await set_person_active(session, actor, user_id, action == "enable")
        await show_card(callback, person, actor, texts)
        if action == "disable":
            popup = _("⛔ Disabled.") if changed else _("Already disabled.")
        else:
            popup = _("✅ Enabled.") if changed else _("Already enabled.")
        await callback.answer(popup)
        return
    if not policy.can_manage_people(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    person = await person_details(session, actor, user_id)
    if action == "role":
        await edit_or_answer(
            callback,
            _("Choose the new role of <b>{name}</b> (now: {role}).").format(
                name=e(person.name), role=label(texts, person.role)
            ),
            role_keyboard(person, texts),
        )
        await callback.answer()
        return
    if action == "branches":
        branches = await assignable_branches(session)
        await edit_or_answer(
            callback,
            _("Branches of <b>{name}</b>: press one to add or remove it.").format(
                name=e(person.name)
            ),
            branches_keyboard(person, branches, callback_data.page),
        )
        await callback.answer()
        return
    await callback.answer(_("This button is no longer valid."), show_alert=True)


async def choose_role(
    callback: CallbackQuery,
    callback_data: PersonRoleButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    """Give a role; one that acts for branches, given to someone with none, asks for a
    first branch before anything changes."""
    role = parse_role(callback_data.role)
    person = await person_details(session, actor, callback_data.id)
    if not policy.can_manage_people(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    branch_ids: frozenset[uuid.UUID] | None = None
    if callback_data.branch:
        branch_ids = frozenset({parse_id(callback_data.branch, ErrorCode.branch_not_in_scope)})
    elif not role.head_office and not person.branch_ids:
        await edit_or_answer(
            callback,
            _(
                "The {role} role acts for branches: choose the first branch of <b>{name}</b>."
            ).format(role=label(texts, role), name=e(person.name)),
            first_branch_keyboard(person, role, await assignable_branches(session), 0),
        )
        await callback.answer()
        return
    changed = await update_person(
        session, actor, callback_data.id, PersonChanges(role=role, branch_ids=branch_ids)
    )
    await show_card(callback, changed, actor, texts)
    await callback.answer(
        _("Role now: {role}.").format(role=label(texts, changed.role)),
    )


async def toggle_person_branch(
    callback: CallbackQuery,
    callback_data: PersonBranchButton,
    session: AsyncSession,
    actor: Actor,
) -> None:
    branch_id = parse_id(callback_data.branch, ErrorCode.branch_not_in_scope)
    person = await toggle_branch(session, actor, callback_data.id, branch_id)
    branches = await assignable_branches(session)
    await edit_or_answer(
        callback,
        _("Branches of <b>{name}</b>: press one to add or remove it.").format(name=e(person.name)),
        branches_keyboard(person, branches, callback_data.page),
    )
    code = next((branch.code for branch in branches if branch.id == branch_id), "")
    added = branch_id in person.branch_ids
    await callback.answer((_("Added {code}.") if added else _("Removed {code}.")).format(code=code))


def invite_line(number: int, invite: InviteView, actor: Actor, texts: Texts) -> str:
    who = (
        invite.person
        if invite.email is None or invite.email in invite.person
        else (f"{invite.person} ({invite.email})")
    )
    branches = ", ".join(invite.branch_codes) or _("all branches")
    created_by = invite.created_by or _("the command line")
    return _(
        "{number}. <b>{person}</b>, {role}, {branches} · by {creator} · until {moment}"
    ).format(
        number=texts.number(number),
        person=e(clip(who, 80)),
        role=label(texts, invite.role),
        branches=e(branches),
        creator=e(clip(created_by, 60)),
        moment=texts.moment(invite.expires_at, actor.timezone),
    )


async def render_invites(
    session: AsyncSession, actor: Actor, texts: Texts
) -> tuple[str, InlineKeyboardMarkup | None]:
    invites = await list_invites(session, actor)
    if not invites:
        return (
            _("No open invites. Send {usage} to invite someone.").format(
                usage=e("/invite ROLE [BRANCH_CODE...] [EMAIL]")
            ),
            None,
        )
    shown = invites[:INVITES_SHOWN]
    lines = [_("<b>Open invites</b> ({count})").format(count=texts.number(len(invites)))]
    lines += [invite_line(number, invite, actor, texts) for number, invite in enumerate(shown, 1)]
    if len(invites) > len(shown):
        lines.append(
            _("…and {count} more: intrex invite list shows them all.").format(
                count=texts.number(len(invites) - len(shown))
            )
        )
    return fit_lines(lines), invites_keyboard(shown)


async def invites(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    text, markup = await render_invites(session, actor, texts)
    await message.answer(text, reply_markup=markup)


async def invite_action(
    callback: CallbackQuery,
    callback_data: InviteButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    if callback_data.action != "revoke":
        await callback.answer(_("This button is no longer valid."), show_alert=True)
        return
    invite_id = parse_id(callback_data.id, ErrorCode.invite_not_found)
    revoked = await revoke_invite(session, actor, invite_id)
    text, markup = await render_invites(session, actor, texts)
    await edit_or_answer(callback, text, markup)
    await callback.answer(
        _("🚫 Invite for {person} revoked.").format(person=clip(revoked.person, 60))
    )


def parse_invite_arguments(arguments: str) -> tuple[AppRole, list[str], str | None]:
    """`ROLE [BRANCH_CODE...] [EMAIL]`: the role first, an email wherever it is, codes else."""
    parts = arguments.split()
    if not parts:
        raise ValidationError(ErrorCode.usage, usage=USAGE_INVITE)
    emails = [part for part in parts[1:] if "@" in part]
    if len(emails) > 1:
        raise ValidationError(ErrorCode.usage, usage=USAGE_INVITE)
    codes = [part for part in parts[1:] if "@" not in part]
    return parse_role(parts[0]), codes, emails[0] if emails else None


async def invite(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
    bot: Bot,
) -> None:
    if not policy.can_invite(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    role, codes, email = parse_invite_arguments(command.args or "")
    issued = await create_invite(
        session,
        actor,
        InviteRequest(
            role=role,
            branch_codes=tuple(codes),
            email=email,
            ttl=timedelta(days=7),
        ),
    )
    me = await bot.me()
    until = texts.moment(issued.expires_at, actor.timezone)
    role_word = label(texts, role)
    lines = [
        _("Invite as {role} for {branch}, single use, valid until {moment}:").format(
            role=role_word, branch=e(", ".join(issued.person.branch_codes)), moment=until
        )
        if issued.person.branch_codes
        else _("Invite as {role}, single use, valid until {moment}:").format(
            role=role_word, moment=until
        ),
        issued.deep_link(me.username),
        _("or send <code>/start {code}</code> to this bot.").format(code=e(issued.code)),
    ]
    if email:
        lines.append(
            _("They will be {email}; /invites lists the open invites.").format(email=e(email))
        )
    await message.answer("\n".join(lines))


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="people")
    guard(router)
    router.message.register(users, Command("users"))
    router.message.register(invites, Command("invites"))
    router.message.register(invite, Command("invite"))
    router.callback_query.register(users_page, PeoplePageButton.filter())
    router.callback_query.register(person_action, PersonButton.filter())
    router.callback_query.register(choose_role, PersonRoleButton.filter())
    router.callback_query.register(toggle_person_branch, PersonBranchButton.filter())
    router.callback_query.register(invite_action, InviteButton.filter())
    return router
