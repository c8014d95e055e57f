"""`intrex user …` and `intrex invite …`: the tenant's people from the shell (SPEC §2, §5).

Thin over core.tenancy.people and core.tenancy.invites: each command is one unit of work
of the command line in its tenant (`console_unit`: head office powers, audited with no
user), so the policy, the last-admin rule and the audit are exactly the bot's. Times are
shown on the tenant's wall clock; `--json` carries them in ISO 8601 (UTC).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Reply, fail, refusals
from cli.telegram import BotName, bot_username
from core.config import get_settings
from core.db.enums import AppRole, InviteState
from core.db.session import Database
from core.errors import ErrorCode, ValidationError
from core.tenancy.invites import (
    MAX_INVITE_TTL,
    InviteRequest,
    InviteView,
    create_invite,
    find_invite,
    list_invites,
    revoke_invite,
)
from core.tenancy.models import Tenant
from core.tenancy.people import (
    PeopleFilter,
    PersonChanges,
    PersonView,
    branches_by_code,
    find_person,
    list_people,
    parse_role,
    parse_user_status,
    person_details,
    set_person_active,
    update_person,
)
from core.tenancy.scope import console_unit
from core.tenancy.service import normalise_branch_code

user_app = typer.Typer(
    help="The tenant's people: list, show, disable, enable, change.", no_args_is_help=True
)
invite_app = typer.Typer(
    help="Invite people to the bot: one-time codes, listed and revoked.", no_args_is_help=True
)

PAGE_SIZE = 50
USAGE_EXIT = 2
"""A command given nothing to do is a usage error, as Typer's own are."""

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]
UserArgument = Annotated[str, typer.Argument(help="The user's id, email or Telegram @username.")]

NO_LANGUAGE = "not chosen (their Telegram app's language, else the tenant's)"
USER_SET_USAGE = (
    "intrex user set --tenant T USER [--role R] [--branches CODE,CODE] [--email E] "
    "[--name N] [--language en|bn]"
)


def refuse_usage(as_json: bool, usage: str) -> NoReturn:
    """A command given nothing to do: its synopsis, and exit 2 as Typer's usage errors."""
    fail(as_json, ValidationError(ErrorCode.usage, usage=usage).message, USAGE_EXIT)


def local_time(moment: datetime | None, timezone: str, never: str = "never") -> str:
    """A moment on the tenant's wall clock, with the zone's abbreviation: `2025-03-01 14:30 +06`."""
    if moment is None:
        return never
    shown = moment.astimezone(ZoneInfo(timezone))
    return f"{shown:%Y-%m-%d %H:%M} {shown:%Z}"


def jsonable(value: Any) -> Any:
    """Core's views as JSON: datetimes in ISO 8601, ids as strings, tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def role_words(role: AppRole) -> str:
    return role.value.replace("_", " ")


def codes_text(codes: Iterable[str], role: AppRole) -> str:
    """A person's branches for people; head office acts for every branch."""
    if role.head_office:
        return "every branch"
    return ", ".join(codes) or "none"


def split_codes(values: Iterable[str]) -> list[str]:
    """Branch codes from repeated options, each of which may also list several with commas."""
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


async def branch_id_of(session: AsyncSession, code: str) -> uuid.UUID:
    """The id of the one branch `code` names (a blank code is refused, not "no filter")."""
    normalise_branch_code(code)
    (branch,) = await branches_by_code(session, [code])
    return branch.id


def person_table(people: list[PersonView], timezone: str) -> Table:
    table = Table(header_style="bold")
    for column in ("id", "name", "role", "branches", "status", "Telegram", "last seen"):
        table.add_column(column, overflow="fold" if column in ("name", "branches") else "ellipsis")
    for person in people:
        table.add_row(
            str(person.id),
            escape(person.name),
            role_words(person.role),
            escape(codes_text(person.branch_codes, person.role)),
            person.status.value if person.active else f"[red]{person.status.value}[/]",
            "yes" if person.linked else "no",
            local_time(person.last_seen_at, timezone),
        )
    return table


def person_text(person: PersonView, timezone: str) -> str:
    """Everything `user show` says about someone, one fact a line."""
    if person.linked:
        account = person.telegram_name or "(no name)"
        if person.telegram_username:
            account += f" (@{person.telegram_username})"
        telegram = f"linked: {account}"
    else:
        telegram = "not linked"
    lines = [
        f"[bold]{escape(person.name)}[/]"
        + ("" if person.name == f"#{person.id}" else f" (id {person.id})"),
        f"role: {role_words(person.role)}",
        f"branches: {escape(codes_text(person.branch_codes, person.role))}",
        f"status: {person.status.value}",
        f"email: {escape(person.email or '—')}",
        f"name: {escape(person.full_name or '—')}",
        f"language: {person.language or NO_LANGUAGE}",
        f"Telegram: {escape(telegram)}",
        f"last seen: {local_time(person.last_seen_at, timezone)}",
    ]
    if person.open_owned is not None:
        lines.append(f"open obligations owned: {person.open_owned}")
    lines.append(
        "open invite: "
        + (
            f"expires {local_time(person.invite_expires_at, timezone)}"
            if person.invite_expires_at
            else "none"
        )
    )
    return "\n".join(lines)


def person_json(person: PersonView) -> dict[str, Any]:
    document: dict[str, Any] = jsonable(person.as_json())
    document["linked"] = person.linked
    return document


@user_app.command("list")
def user_list(
    tenant: TenantOption,
    role: Annotated[
        str | None, typer.Option(help="Only this role (head_office_admin, branch_manager, …).")
    ] = None,
    branch: Annotated[str | None, typer.Option(help="Only people of this branch code.")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled.")] = None,
    page: Annotated[int, typer.Option(help=f"Page number ({PAGE_SIZE} a page).", min=1)] = 1,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the tenant's people: active first, then by role and name."""
    with refusals(as_json):
        wanted_role = parse_role(role) if role is not None else None
        wanted_status = parse_user_status(status) if status is not None else None

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            branch_id = await branch_id_of(session, branch) if branch is not None else None
            listing = await list_people(
                session,
                actor,
                PeopleFilter(role=wanted_role, branch_id=branch_id, status=wanted_status),
                page=page - 1,
                page_size=PAGE_SIZE,
            )
        if listing.total and not listing.items:
            raise ValidationError(ErrorCode.page_out_of_range)
        data = {
            "ok": True,
            "page": page,
            "pages": listing.pages,
            "page_size": listing.page_size,
            "total": listing.total,
            "has_more": listing.has_more,
            "people": [person_json(person) for person in listing.items],
        }
        if not listing.items:
            return Reply(data, "Nobody matches.")
        footer = f"Page {page} of {listing.pages} ({listing.total} in all)."
        if listing.has_more:
            footer += f" Next: --page {page + 1}"
        return Reply(data, Group(person_table(listing.items, owner.timezone), footer))

    answer_for_tenant(as_json, tenant, work)


@user_app.command("show")
def user_show(tenant: TenantOption, user: UserArgument, as_json: bool = JSON_OPTION) -> None:
    """Show one person: role, branches, contact, Telegram account, last seen, open work."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            person = await person_details(session, actor, await find_person(session, user))
        return Reply(
            {"ok": True, "person": person_json(person)}, person_text(person, owner.timezone)
        )

    answer_for_tenant(as_json, tenant, work)


def _set_active(tenant: str, user: str, active: bool, as_json: bool) -> None:
    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            person, changed = await set_person_active(
                session, actor, await find_person(session, user), active
            )
        state = "enabled" if active else "disabled"
        human = (
            f"{'Enabled' if active else 'Disabled'} {escape(person.name)}."
            if changed
            else f"{escape(person.name)} is already {state}: nothing changed."
        )
        return Reply({"ok": True, "changed": changed, "person": person_json(person)}, human)

    answer_for_tenant(as_json, tenant, work)


@user_app.command("disable")
def user_disable(tenant: TenantOption, user: UserArgument, as_json: bool = JSON_OPTION) -> None:
    """Disable someone: their chat is treated as not linked and nothing more reaches them."""
    _set_active(tenant, user, False, as_json)


@user_app.command("enable")
def user_enable(tenant: TenantOption, user: UserArgument, as_json: bool = JSON_OPTION) -> None:
    """Enable someone again: their access returns as it was."""
    _set_active(tenant, user, True, as_json)


@user_app.command("set")
def user_set(
    tenant: TenantOption,
    user: UserArgument,
    role: Annotated[
        str | None, typer.Option(help="head_office_admin, branch_manager or operator.")
    ] = None,
    branches: Annotated[
        str | None, typer.Option(help="Comma-separated branch codes (replaces their branches).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Their email ('' clears it).")] = None,
    name: Annotated[str | None, typer.Option(help="Their name ('' clears it).")] = None,
    language: Annotated[str | None, typer.Option(help="en or bn ('' clears their choice).")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change someone's role, branches, email, name or language, in one audited step."""
    if all(value is None for value in (role, branches, email, name, language)):
        refuse_usage(as_json, USER_SET_USAGE)
    with refusals(as_json):
        wanted_role = parse_role(role) if role is not None else None
        codes = split_codes([branches]) if branches is not None else None

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            user_id = await find_person(session, user)
            branch_ids = (
                frozenset(branch.id for branch in await branches_by_code(session, codes))
                if codes is not None
                else None
            )
            person = await update_person(
                session,
                actor,
                user_id,
                PersonChanges(
                    role=wanted_role,
                    branch_ids=branch_ids,
                    email=email,
                    full_name=name,
                    language=language,
                ),
            )
        return Reply(
            {"ok": True, "person": person_json(person)},
            f"Updated.\n{person_text(person, owner.timezone)}",
        )

    answer_for_tenant(as_json, tenant, work)


def _link_note(bot: BotName) -> str | None:
    """Why the link says `<bot>`, and what to do about it; None when it is complete."""
    if bot.username is not None:
        return None
    if not bot.asked:
        return (
            "Neither BOT_USERNAME nor BOT_TOKEN is set: put your bot's username in place of "
            "<bot>, or set BOT_USERNAME."
        )
    return (
        f"The bot's username could not be fetched from Telegram ({bot.problem}): put it in "
        "place of <bot>, or set BOT_USERNAME."
    )


@invite_app.command("create")
def invite_create(
    tenant: TenantOption,
    role: Annotated[str, typer.Option(help="head_office_admin, branch_manager or operator.")],
    branch: Annotated[
        list[str] | None,
        typer.Option(help="A branch code of theirs (repeat for several; managers, operators)."),
    ] = None,
    email: Annotated[str | None, typer.Option(help="The invited person's email.")] = None,
    name: Annotated[str | None, typer.Option(help="The invited person's name.")] = None,
    days: Annotated[
        int, typer.Option(help="Days until the code expires.", min=1, max=MAX_INVITE_TTL.days)
    ] = 7,
    as_json: bool = JSON_OPTION,
) -> None:
    """Invite someone, who exists from now on; the one-time code or deep link links Telegram."""
    with refusals(as_json):
        parsed_role = parse_role(role)
        codes = split_codes(branch or [])

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            issued = await create_invite(
                session,
                actor,
                InviteRequest(
                    role=parsed_role,
                    branch_codes=tuple(codes),
                    email=email,
                    full_name=name,
                    ttl=timedelta(days=days),
                ),
            )
        bot = await bot_username(get_settings())
        link = issued.deep_link(bot.username)
        person = issued.person
        note = _link_note(bot)
        expires = local_time(issued.expires_at, owner.timezone)
        human = "\n".join(
            [
                f"Invite for [bold]{escape(person.name)}[/]: {role_words(person.role)}, "
                f"{escape(codes_text(person.branch_codes, person.role))} "
                f"(single use, expires {expires}, {owner.timezone})",
                f"code: [bold]{issued.code}[/]",
                f"link: {escape(link)}",
                f"In the bot: /start {issued.code}",
                *([f"[yellow]{escape(note)}[/]"] if note else []),
            ]
        )
        return Reply(
            {
                "ok": True,
                "invite_id": str(issued.invite_id),
                "code": issued.code,
                "deep_link": link,
                "bot_username": bot.username,
                "bot_username_problem": bot.problem,
                "role": person.role.value,
                "branches": list(person.branch_codes),
                "branch": person.branch_codes[0] if len(person.branch_codes) == 1 else None,
                "email": person.email,
                "name": person.full_name,
                "expires_at": issued.expires_at.isoformat(),
                "expires_local": issued.expires_at.astimezone(ZoneInfo(owner.timezone)).isoformat(),
                "timezone": owner.timezone,
                "person": person_json(person),
            },
            human,
        )

    answer_for_tenant(as_json, tenant, work)


def invite_table(invites: list[InviteView], timezone: str) -> Table:
    table = Table(header_style="bold")
    columns = ("id", "person", "role", "branches", "created by", "created", "expires", "state")
    for column in columns:
        wraps = column in ("person", "branches", "created by")
        table.add_column(column, overflow="fold" if wraps else "ellipsis")
    styles = {InviteState.open: "green", InviteState.revoked: "red"}
    for invite in invites:
        table.add_row(
            invite.id.hex[:8],
            escape(invite.person),
            role_words(invite.role),
            escape(codes_text(invite.branch_codes, invite.role)),
            escape(invite.created_by or "command line"),
            local_time(invite.created_at, timezone),
            local_time(invite.expires_at, timezone),
            f"[{styles.get(invite.state, 'default')}]{invite.state.value}[/]",
        )
    return table


@invite_app.command("list")
def invite_list(
    tenant: TenantOption,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also used, revoked and expired invites.")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """List open invites, soonest to expire first (with --all, closed ones after them)."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            invites = await list_invites(session, actor, include_closed=show_all)
        data = {"ok": True, "invites": [jsonable(invite.as_json()) for invite in invites]}
        if not invites:
            return Reply(data, "No invites." if show_all else "No open invites.")
        return Reply(data, invite_table(invites, owner.timezone))

    answer_for_tenant(as_json, tenant, work)


@invite_app.command("revoke")
def invite_revoke(
    tenant: TenantOption,
    invite: Annotated[
        str, typer.Argument(help="The invite's id, or its first 6 or more characters.")
    ],
    as_json: bool = JSON_OPTION,
) -> None:
    """Withdraw an open invite; someone who never linked is disabled with it."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            revoked = await revoke_invite(session, actor, await find_invite(session, invite))
            person = await person_details(session, actor, revoked.user_id)
        lines: list[RenderableType] = [
            f"Revoked invite {revoked.id.hex[:8]} for {escape(revoked.person)} "
            f"({role_words(revoked.role)})."
        ]
        if not person.linked and not person.active:
            lines.append(
                "They never linked, so they are disabled too and nothing reaches them; "
                "invite them again to bring them back."
            )
        return Reply(
            {
                "ok": True,
                "invite": jsonable(revoked.as_json()),
                "person": person_json(person),
            },
            Group(*lines),
        )

    answer_for_tenant(as_json, tenant, work)


__all__ = ["invite_app", "jsonable", "local_time", "refuse_usage", "user_app"]
