"""The tenant's people (SPEC §5): list, show, disable and enable, change role, branches,
email, name and language.

Services take the caller's session and the `Actor`, enforce `core.tenancy.policy` on the
locked row and never commit. Every change is audited with before and after, branches
included. The last active head office admin can be neither disabled nor demoted: the
check locks every active admin's row, so two admins demoting each other at the same
moment cannot both succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record, snapshot
from core.clock import utc_now
from core.db.enums import OPEN_OBLIGATION, AppRole, BranchStatus, UserStatus
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.i18n import N_, parse_language
from core.notify.recipients import catch_up
from core.obligations.models import ObligationInstance
from core.parsing import parse_enum
from core.tenancy import policy
from core.tenancy.models import Branch, InviteCode, User, UserBranch
from core.tenancy.names import person_name, user_name
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code
from core.validation import is_email_address

DEFAULT_PAGE_SIZE = 8
MAX_PAGE_SIZE = 200
NAME_LIMIT = 200
MAX_USER_ID = 2_147_483_647
"""User ids are PostgreSQL integers: a larger number names nobody."""


@dataclass(frozen=True)
class PersonView:
    """A person as every surface shows them; `open_owned` only in `person_details`."""

    id: int
    role: AppRole
    status: UserStatus
    full_name: str | None
    email: str | None
    language: str | None
    telegram_user_id: int | None
    telegram_username: str | None
    telegram_name: str | None
    last_seen_at: datetime | None
    created_at: datetime
    branch_ids: tuple[uuid.UUID, ...]
    branch_codes: tuple[str, ...]
    invite_expires_at: datetime | None
    """When the open invite waiting for them expires (None: none open)."""
    open_owned: int | None = None

    @property
    def name(self) -> str:
        return person_name(
            self.full_name, self.telegram_name, self.telegram_username, self.email, self.id
        )

    @property
    def linked(self) -> bool:
        return self.telegram_user_id is not None

    @property
    def active(self) -> bool:
        return self.status is UserStatus.active

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "full_name": self.full_name,
            "role": self.role.value,
            "status": self.status.value,
            "email": self.email,
            "language": self.language,
            "branches": list(self.branch_codes),
            "telegram": {
                "user_id": self.telegram_user_id,
                "username": self.telegram_username,
                "name": self.telegram_name,
            }
            if self.linked
            else None,
            "last_seen_at": self.last_seen_at,
            "invite_expires_at": self.invite_expires_at,
            "open_obligations_owned": self.open_owned,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class PeoplePage:
    items: list[PersonView]
    page: int
    page_size: int
    total: int

    @property
    def has_more(self) -> bool:
        return (self.page + 1) * self.page_size < self.total

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class PeopleFilter:
    role: AppRole | None = None
    branch_id: uuid.UUID | None = None
    status: UserStatus | None = None


def branches_of_user(column: Any) -> Any:
    """A scalar subquery: `column` of the branches of the outer query's `User`, by code."""
    return (
        select(func.array_agg(aggregate_order_by(column, Branch.code)))
        .select_from(UserBranch)
        .join(Branch, Branch.id == UserBranch.branch_id)
        .where(UserBranch.user_id == User.id)
        .scalar_subquery()
    )


def _open_invite_expiry(now: datetime) -> Any:
    return (
        select(func.max(InviteCode.expires_at))
        .where(
            InviteCode.user_id == User.id,
            InviteCode.used_at.is_(None),
            InviteCode.revoked_at.is_(None),
            InviteCode.expires_at > now,
        )
        .scalar_subquery()
    )


def _people_query(now: datetime) -> Any:
    return select(
        User.id,
        User.role,
        User.status,
        User.full_name,
        User.email,
        User.language,
        User.telegram_user_id,
        User.telegram_username,
        User.telegram_name,
        User.last_seen_at,
        User.created_at,
        branches_of_user(UserBranch.branch_id).label("branch_ids"),
        branches_of_user(Branch.code).label("branch_codes"),
        _open_invite_expiry(now).label("invite_expires_at"),
    )


def _view(row: Any, open_owned: int | None = None) -> PersonView:
    return PersonView(
        id=row.id,
        role=AppRole(row.role),
        status=UserStatus(row.status),
        full_name=row.full_name,
        email=row.email,
        language=row.language,
        telegram_user_id=row.telegram_user_id,
        telegram_username=row.telegram_username,
        telegram_name=row.telegram_name,
        last_seen_at=row.last_seen_at,
        created_at=row.created_at,
        branch_ids=tuple(row.branch_ids or ()),
        branch_codes=tuple(row.branch_codes or ()),
        invite_expires_at=row.invite_expires_at,
        open_owned=open_owned,
    )


def _in_scope(actor: Actor) -> Any:
    """Managers see the people linked to one of their branches, and themselves."""
    if actor.branch_ids is None:
        return literal(True)
    return User.id.in_(
        select(UserBranch.user_id).where(UserBranch.branch_id.in_(sorted(actor.branch_ids)))
    ) | (User.id == actor.user_id)


SORT_NAME = func.lower(func.coalesce(User.full_name, User.telegram_name, User.email, ""))
ROLE_ORDER = case(
    (User.role == AppRole.head_office_admin, 0), (User.role == AppRole.branch_manager, 1), else_=2
)


async def list_people(
    session: AsyncSession,
    actor: Actor,
    filters: PeopleFilter = PeopleFilter(),
    *,
    page: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
    now: datetime | None = None,
) -> PeoplePage:
    """One page of the people the actor may see: active first, then by role and name.

    The page's ids are chosen first, by their own statement, so branches and invites are
    gathered for the page's rows only (joined to the ordered ids instead, the planner may
    rescan the whole ordering once per person).
    """
    if not policy.can_view_people(actor):
        raise PermissionDeniedError(ErrorCode.managers_only)
    if page < 0:
        raise ValidationError(ErrorCode.page_out_of_range)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(ErrorCode.page_size_out_of_range, limit=MAX_PAGE_SIZE)
    conditions = [_in_scope(actor)]
    if filters.role is not None:
        conditions.append(User.role == filters.role)
    if filters.status is not None:
        conditions.append(User.status == filters.status.value)
    if filters.branch_id is not None:
        conditions.append(
            User.id.in_(select(UserBranch.user_id).where(UserBranch.branch_id == filters.branch_id))
        )
    where = and_(*conditions)
    total = await session.scalar(select(func.count()).select_from(User).where(where)) or 0
    ordering = (User.status != UserStatus.active.value, ROLE_ORDER, SORT_NAME, User.id)
    chosen = list(
        await session.scalars(
            select(User.id)
            .where(where)
            .order_by(*ordering)
            .offset(page * page_size)
            .limit(page_size)
        )
    )
    rows = await session.execute(
        _people_query(utc_now(now)).where(User.id.in_(chosen)).order_by(*ordering)
    )
    return PeoplePage([_view(row) for row in rows], page, page_size, total)


async def person_details(
    session: AsyncSession, actor: Actor, user_id: int, *, now: datetime | None = None
) -> PersonView:
    """One person with the count of open obligations they own; out of scope is not found."""
    if not policy.can_view_people(actor) and user_id != actor.user_id:
        raise PermissionDeniedError(ErrorCode.managers_only)
    owned = (
        select(func.count())
        .select_from(ObligationInstance)
        .where(
            ObligationInstance.owner_user_id == User.id,
            ObligationInstance.status.in_(OPEN_OBLIGATION),
        )
        .scalar_subquery()
    )
    row = (
        await session.execute(
            _people_query(utc_now(now)).add_columns(owned.label("owned")).where(User.id == user_id)
        )
    ).first()
    if row is None or not policy.can_see_person(actor, row.id, row.branch_ids or ()):
        raise NotFoundError(ErrorCode.person_not_found)
    return _view(row, open_owned=row.owned)


async def find_person(session: AsyncSession, reference: str) -> int:
    """The CLI's USER: a user's id, email or Telegram @username, in the session's tenant."""
    cleaned = reference.strip()
    if cleaned.isascii() and cleaned.isdigit():
        if int(cleaned) > MAX_USER_ID:
            raise NotFoundError(ErrorCode.user_not_found, value=cleaned)
        condition = User.id == int(cleaned)
    elif cleaned.startswith("@"):
        condition = func.lower(User.telegram_username) == cleaned[1:].lower()
    else:
        condition = func.lower(User.email) == cleaned.lower()
    found = await session.scalar(select(User.id).where(condition))
    if found is None:
        raise NotFoundError(ErrorCode.user_not_found, value=cleaned)
    return found


async def branches_by_code(session: AsyncSession, codes: Iterable[str]) -> list[Branch]:
    """The branches named by `codes` (any case), each found or refused by its code."""
    wanted = list(dict.fromkeys(normalise_branch_code(code) for code in codes if code.strip()))
    found = {
        branch.code: branch
        for branch in await session.scalars(select(Branch).where(Branch.code.in_(wanted)))
    }
    for code in wanted:
        if code not in found:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
    return [found[code] for code in wanted]


async def checked_branches(
    session: AsyncSession,
    role: AppRole,
    branch_ids: Collection[uuid.UUID],
    kept: Collection[uuid.UUID] = (),
) -> list[Branch]:
    """The branches a person of `role` is to act for, checked: head office takes none, the
    others at least one, every one existing, and active unless the person has it already
    (`kept`: a branch deactivated later does not block other changes to its people)."""
    if role.head_office:
        if branch_ids:
            raise ValidationError(ErrorCode.branch_unwanted)
        return []
    if not branch_ids:
        raise ValidationError(ErrorCode.branch_needed, role=role)
    branches = list(
        await session.scalars(
            select(Branch).where(Branch.id.in_(list(branch_ids))).order_by(Branch.code)
        )
    )
    if len(branches) != len(set(branch_ids)):
        raise NotFoundError(ErrorCode.branch_not_in_scope)
    for branch in branches:
        if branch.status != BranchStatus.active and branch.id not in kept:
            raise ValidationError(ErrorCode.branch_inactive, code=branch.code)
    return branches


def normalised_email(value: str) -> str | None:
    """An email as stored (lower case), None for an empty value; refused if malformed."""
    cleaned = value.strip().lower()
    if not cleaned:
        return None
    if not is_email_address(cleaned):
        raise ValidationError(ErrorCode.email_invalid, value=cleaned)
    return cleaned


def cleaned_name(value: str) -> str | None:
    cleaned = " ".join(value.split())
    if len(cleaned) > NAME_LIMIT:
        raise ValidationError(ErrorCode.text_too_long, what=N_("name"), limit=NAME_LIMIT)
    return cleaned or None


async def ensure_email_free(session: AsyncSession, email: str | None, user_id: int | None) -> None:
    """Refuse an email another user of the tenant has (checked first, so the transaction
    is not aborted by the unique constraint)."""
    if email is None:
        return
    other = await session.scalar(
        select(User.id).where(func.lower(User.email) == email, User.id != (user_id or 0))
    )
    if other is not None:
        raise ConflictError(ErrorCode.email_taken, value=email)


async def _locked(session: AsyncSession, actor: Actor, user_id: int) -> User:
    """The person, locked for a change; for a head office admin, every active admin is
    locked first, in id order, so that crossed changes of two admins queue instead of
    deadlocking, and the last-admin count stays true until this transaction ends."""
    if not policy.can_manage_people(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    role = await session.scalar(select(User.role).where(User.id == user_id))
    if role is None:
        raise NotFoundError(ErrorCode.person_not_found)
    if role is AppRole.head_office_admin:
        await lock_active_admins(session)
    user = await session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFoundError(ErrorCode.person_not_found)
    return user


async def lock_active_admins(session: AsyncSession) -> list[int]:
    """Lock every active head office admin's row, in id order; the ids of those who have
    linked Telegram (an invited admin who never linked cannot act, so does not count)."""
    rows = await session.execute(
        select(User.id, User.telegram_user_id)
        .where(User.role == AppRole.head_office_admin, User.status == UserStatus.active.value)
        .order_by(User.id)
        .with_for_update()
    )
    return [row.id for row in rows if row.telegram_user_id is not None]


async def _branch_ids(session: AsyncSession, user_id: int) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(UserBranch.branch_id)
            .join(Branch, Branch.id == UserBranch.branch_id)
            .where(UserBranch.user_id == user_id)
            .order_by(Branch.code)
        )
    )


async def refuse_last_admin(session: AsyncSession, user: User) -> None:
    """Refuse to take away the last active head office admin who can act, the last one
    linked to Telegram (locks every active admin)."""
    if user.role is not AppRole.head_office_admin or user.status != UserStatus.active:
        return
    if user.telegram_user_id is None:
        return
    if await lock_active_admins(session) == [user.id]:
        raise ConflictError(
            ErrorCode.last_admin,
            name=user_name(user),
        )


async def _snapshot_with_branches(session: AsyncSession, user: User) -> dict[str, Any]:
    codes = await session.scalar(select(branches_of_user(Branch.code)).where(User.id == user.id))
    return {**snapshot(user, exclude={"password_hash"}), "branches": list(codes or ())}


async def _record_change(
    session: AsyncSession, actor: Actor, user: User, before: dict[str, Any], action: str
) -> PersonView:
    await session.flush()
    await record(
        session,
        tenant_id=actor.tenant_id,
        action=action,
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=await _snapshot_with_branches(session, user),
        user_id=actor.user_id,
    )
    return await person_details(session, actor, user.id)


async def set_person_active(
    session: AsyncSession, actor: Actor, user_id: int, active: bool
) -> tuple[PersonView, bool]:
    """Disable or enable someone; returns the person now and whether anything changed.

    A disabled person's next update finds their chat not linked, and no alert, digest or
    escalation step goes to them any more; nothing of theirs is deleted.
    """
    user = await _locked(session, actor, user_id)
    wanted = UserStatus.active if active else UserStatus.disabled
    if user.status == wanted:
        return await person_details(session, actor, user_id), False
    if not active:
        await refuse_last_admin(session, user)
    before = await _snapshot_with_branches(session, user)
    user.status = wanted.value
    action = "user.enable" if active else "user.disable"
    changed = await _record_change(session, actor, user, before, action)
    if active:
        await catch_up(session, actor.tenant_id, user_id)
    return changed, True


@dataclass(frozen=True)
class PersonChanges:
    """What to change; None leaves a field as it is, an empty email or name clears it."""

    role: AppRole | None = None
    branch_ids: frozenset[uuid.UUID] | None = None
    email: str | None = None
    full_name: str | None = None
    language: str | None = None
    """`en`, `bn`, or empty for "no choice" (the Telegram client's, then the tenant's)."""

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)


def chosen_language(value: str) -> str | None:
    """`en` or `bn` (any case), or None for an empty value ("no choice"); else refused."""
    cleaned = value.strip().lower()
    if not cleaned:
        return None
    language = parse_language(cleaned)
    if language is None or language.value != cleaned:
        raise ValidationError(ErrorCode.language_unknown, value=value.strip())
    return language.value


def parse_role(value: str) -> AppRole:
    """A role name in any case, with spaces or dashes for underscores."""
    return parse_enum(AppRole, value, N_("role"))


def parse_user_status(value: str) -> UserStatus:
    return parse_enum(UserStatus, value, N_("status"))


async def update_person(
    session: AsyncSession, actor: Actor, user_id: int, changes: PersonChanges
) -> PersonView:
    """Change role, branches, email, name or language, in one audited step."""
    user = await _locked(session, actor, user_id)
    current_branches = await _branch_ids(session, user_id)
    role = changes.role or user.role
    if role is not user.role and user.role is AppRole.head_office_admin:
        await refuse_last_admin(session, user)
    if changes.branch_ids is not None:
        branch_ids: Collection[uuid.UUID] = changes.branch_ids
    elif role.head_office:
        branch_ids = []
    else:
        branch_ids = current_branches
    branches = await checked_branches(session, role, branch_ids, kept=current_branches)
    email = normalised_email(changes.email) if changes.email is not None else user.email
    await ensure_email_free(session, email, user.id)
    before = await _snapshot_with_branches(session, user)
    user.role = role
    user.email = email
    if changes.full_name is not None:
        user.full_name = cleaned_name(changes.full_name)
    if changes.language is not None:
        user.language = chosen_language(changes.language)
    wanted = {branch.id for branch in branches}
    if wanted != set(current_branches):
        dropped = set(current_branches) - wanted
        if dropped:
            await session.execute(
                delete(UserBranch).where(
                    UserBranch.user_id == user_id, UserBranch.branch_id.in_(sorted(dropped))
                )
            )
        session.add_all(
            UserBranch(tenant_id=actor.tenant_id, user_id=user_id, branch_id=branch_id)
            for branch_id in sorted(wanted - set(current_branches))
        )
    changed = await _record_change(session, actor, user, before, "user.update")
    if changed.role is not AppRole(before["role"]) or set(changed.branch_ids) != set(
        current_branches
    ):
        await catch_up(session, actor.tenant_id, user_id)
    return changed


async def toggle_branch(
    session: AsyncSession, actor: Actor, user_id: int, branch_id: uuid.UUID
) -> PersonView:
    """Add the branch to the person's branches, or take it away (the bot's branch buttons)."""
    current = set(await _branch_ids(session, user_id))
    wanted = current ^ {branch_id}
    return await update_person(session, actor, user_id, PersonChanges(branch_ids=frozenset(wanted)))


@dataclass(frozen=True)
class BranchChoice:
    id: uuid.UUID
    code: str
    name: str


async def assignable_branches(session: AsyncSession) -> list[BranchChoice]:
    """The active branches a person can be given, by code (the bot's branch buttons)."""
    rows = await session.execute(
        select(Branch.id, Branch.code, Branch.name)
        .where(Branch.status == BranchStatus.active.value)
        .order_by(Branch.code)
    )
    return [BranchChoice(row.id, row.code, row.name) for row in rows]
