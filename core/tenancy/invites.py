"""Invites (SPEC §5): created with role, branches, email and name; listed; revoked; redeemed.

The invited person exists as a user from the moment the invite is created, so a route can
name them and an obligation can be theirs before they ever open Telegram; `/start CODE`
then links their Telegram account to that user. Inviting the email of someone who never
linked invites that same person again (their earlier open invites are revoked). Revoking
the invite of someone who never linked disables them, so they stay out of routes.

The plain code exists only in `IssuedInvite`, shown once to whoever issued it; only its
SHA-256 is stored.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.audit import add_recorded, record, record_update, snapshot
from core.clock import utc_now
from core.crypto import hash_token
from core.db.enums import AppRole, InviteState, UserStatus
from core.db.session import Database
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.notify.recipients import catch_up
from core.tenancy import policy
from core.tenancy.models import Branch, InviteCode, User, UserBranch
from core.tenancy.names import person_name
from core.tenancy.people import (
    PersonView,
    branches_by_code,
    branches_of_user,
    checked_branches,
    cleaned_name,
    ensure_email_free,
    normalised_email,
    person_details,
)
from core.tenancy.scope import Actor

INVITE_CODE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DEFAULT_INVITE_TTL = timedelta(days=7)
MAX_INVITE_TTL = timedelta(days=90)
EMAIL_CONSTRAINT = "uq_users_tenant_id_email"
INVITE_ID_PREFIX = re.compile(r"^[0-9a-f]{6,32}$")


hash_invite_code = hash_token
"""Invite codes carry 144 random bits: stored as their SHA-256 (`core.crypto.hash_token`)."""


def deep_link(bot_username: str | None, code: str) -> str:
    return f"https://t.me/{bot_username or '<bot>'}?start={code}"


@dataclass(frozen=True)
class InviteRequest:
    role: AppRole
    branch_codes: tuple[str, ...] = ()
    """As people type them (any case); each must name an active branch."""
    email: str | None = None
    full_name: str | None = None
    ttl: timedelta = DEFAULT_INVITE_TTL


@dataclass(frozen=True)
class IssuedInvite:
    """The only moment the plain code exists: shown once to whoever issued it."""

    code: str
    invite_id: uuid.UUID
    expires_at: datetime
    person: PersonView

    def deep_link(self, bot_username: str | None) -> str:
        return deep_link(bot_username, self.code)


async def create_invite(
    session: AsyncSession, actor: Actor, request: InviteRequest, *, now: datetime | None = None
) -> IssuedInvite:
    """Issue a single-use, expiring code for a person who exists from now on."""
    if not policy.can_invite(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    if not timedelta(0) < request.ttl <= MAX_INVITE_TTL:
        raise ValidationError(ErrorCode.invite_ttl_invalid, limit=MAX_INVITE_TTL.days)
    named = await branches_by_code(session, request.branch_codes)
    branches = await checked_branches(session, request.role, {branch.id for branch in named})
    email = normalised_email(request.email) if request.email else None
    full_name = cleaned_name(request.full_name) if request.full_name else None
    issued_at = utc_now(now)
    user = await _invitee(session, actor, request.role, email, full_name)
    session.add_all(
        UserBranch(tenant_id=actor.tenant_id, user_id=user.id, branch_id=branch.id)
        for branch in branches
    )
    await session.flush()
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="user.invite",
        entity_type="user",
        entity_id=user.id,
        after={
            **snapshot(user, exclude={"password_hash"}),
            "branches": [branch.code for branch in branches],
        },
        user_id=actor.user_id,
    )
    code = secrets.token_urlsafe(18)
    invite = InviteCode(
        tenant_id=actor.tenant_id,
        code_hash=hash_invite_code(code),
        user_id=user.id,
        full_name=full_name,
        created_by_user_id=actor.user_id,
        expires_at=issued_at + request.ttl,
    )
    await add_recorded(
        session,
        invite,
        tenant_id=actor.tenant_id,
        action="invite.create",
        entity_type="invite_code",
        user_id=actor.user_id,
        exclude={"code_hash"},
    )
    return IssuedInvite(
        code=code,
        invite_id=invite.id,
        expires_at=invite.expires_at,
        person=await person_details(session, actor, user.id, now=issued_at),
    )


async def _invitee(
    session: AsyncSession,
    actor: Actor,
    role: AppRole,
    email: str | None,
    full_name: str | None,
) -> User:
    """The user the invite is for: someone with this email who never linked is invited
    again (their branches reset, earlier open invites revoked); otherwise a new user."""
    existing = (
        await session.scalar(select(User).where(User.email == email).with_for_update())
        if email
        else None
    )
    if existing is None:
        await ensure_email_free(session, email, None)
        user = User(tenant_id=actor.tenant_id, role=role, email=email, full_name=full_name)
        session.add(user)
        await session.flush()
        await session.refresh(user)
        return user
    if existing.telegram_user_id is not None:
        raise ConflictError(ErrorCode.email_taken, value=email)
    await session.execute(
        update(InviteCode)
        .where(
            InviteCode.user_id == existing.id,
            InviteCode.used_at.is_(None),
            InviteCode.revoked_at.is_(None),
        )
        .values(revoked_at=func.now(), revoked_by_user_id=actor.user_id)
    )
    await session.execute(delete(UserBranch).where(UserBranch.user_id == existing.id))
    existing.role = role
    existing.status = UserStatus.active.value
    if full_name:
        existing.full_name = full_name
    await session.flush()
    return existing


def invite_state(
    used_at: datetime | None, revoked_at: datetime | None, expires_at: datetime, now: datetime
) -> InviteState:
    if used_at is not None:
        return InviteState.used
    if revoked_at is not None:
        return InviteState.revoked
    if expires_at <= now:
        return InviteState.expired
    return InviteState.open


@dataclass(frozen=True)
class InviteView:
    id: uuid.UUID
    state: InviteState
    person: str
    """Who is invited: their name or email, or `#id` when the invite named neither."""
    user_id: int
    email: str | None
    role: AppRole
    branch_codes: tuple[str, ...]
    created_by: str | None
    """Who created it; None: the command line."""
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "person": self.person,
            "user_id": self.user_id,
            "email": self.email,
            "role": self.role.value,
            "branches": list(self.branch_codes),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
            "revoked_at": self.revoked_at,
        }


def _invites_query() -> Any:
    creator = aliased(User)
    return (
        select(
            InviteCode.id,
            InviteCode.user_id,
            InviteCode.full_name,
            InviteCode.created_at,
            InviteCode.expires_at,
            InviteCode.used_at,
            InviteCode.revoked_at,
            User.role,
            User.email,
            User.full_name.label("user_name"),
            User.telegram_name,
            User.telegram_username,
            branches_of_user(Branch.code).label("branch_codes"),
            creator.id.label("creator_id"),
            creator.full_name.label("creator_name"),
            creator.telegram_name.label("creator_telegram_name"),
            creator.telegram_username.label("creator_username"),
            creator.email.label("creator_email"),
        )
        .join(User, User.id == InviteCode.user_id)
        .outerjoin(creator, creator.id == InviteCode.created_by_user_id)
    )


def _invite_view(row: Any, now: datetime) -> InviteView:
    return InviteView(
        id=row.id,
        state=invite_state(row.used_at, row.revoked_at, row.expires_at, now),
        person=person_name(
            row.user_name or row.full_name,
            row.telegram_name,
            row.telegram_username,
            row.email,
            row.user_id,
        ),
        user_id=row.user_id,
        email=row.email,
        role=AppRole(row.role),
        branch_codes=tuple(row.branch_codes or ()),
        created_by=None
        if row.creator_id is None
        else person_name(
            row.creator_name,
            row.creator_telegram_name,
            row.creator_username,
            row.creator_email,
            row.creator_id,
        ),
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


async def list_invites(
    session: AsyncSession,
    actor: Actor,
    *,
    include_closed: bool = False,
    now: datetime | None = None,
) -> list[InviteView]:
    """Open invites, soonest to expire first; with `include_closed`, used, revoked and
    expired ones too (newest first after the open ones)."""
    if not policy.can_manage_people(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    moment = utc_now(now)
    query = _invites_query()
    if not include_closed:
        query = query.where(
            InviteCode.used_at.is_(None),
            InviteCode.revoked_at.is_(None),
            InviteCode.expires_at > moment,
        )
    rows = await session.execute(query.order_by(InviteCode.expires_at, InviteCode.id))
    views = [_invite_view(row, moment) for row in rows]
    still_open = [view for view in views if view.state is InviteState.open]
    closed = [view for view in views if view.state is not InviteState.open]
    return still_open + sorted(closed, key=lambda view: view.created_at, reverse=True)


async def find_invite(session: AsyncSession, reference: str) -> uuid.UUID:
    """An invite by its id, or by the first characters of it (as `invite list` shows)."""
    cleaned = reference.strip().lower().replace("-", "")
    if not INVITE_ID_PREFIX.fullmatch(cleaned):
        raise NotFoundError(ErrorCode.invite_not_found)
    found = list(
        await session.scalars(
            select(InviteCode.id)
            .where(func.replace(cast(InviteCode.id, String), "-", "").startswith(cleaned))
            .limit(2)
        )
    )
    if len(found) != 1:
        raise NotFoundError(ErrorCode.invite_not_found)
    return found[0]


async def revoke_invite(
    session: AsyncSession, actor: Actor, invite_id: uuid.UUID, *, now: datetime | None = None
) -> InviteView:
    """Withdraw an open invite; a person who never linked is disabled with it."""
    if not policy.can_manage_people(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    moment = utc_now(now)
    invite = await session.get(InviteCode, invite_id, with_for_update=True, populate_existing=True)
    if invite is None:
        raise NotFoundError(ErrorCode.invite_not_found)
    state = invite_state(invite.used_at, invite.revoked_at, invite.expires_at, moment)
    if state is not InviteState.open:
        raise ConflictError(ErrorCode.invite_closed, state=state)
    before = snapshot(invite, exclude={"code_hash"})
    invite.revoked_at = moment
    invite.revoked_by_user_id = actor.user_id
    await record_update(
        session,
        invite,
        before,
        tenant_id=actor.tenant_id,
        action="invite.revoke",
        entity_type="invite_code",
        user_id=actor.user_id,
        exclude={"code_hash"},
    )
    user = await session.get_one(User, invite.user_id, with_for_update=True)
    if user.telegram_user_id is None and user.status == UserStatus.active.value:
        user_before = snapshot(user, exclude={"password_hash"})
        user.status = UserStatus.disabled.value
        await record_update(
            session,
            user,
            user_before,
            tenant_id=actor.tenant_id,
            action="user.disable",
            entity_type="user",
            user_id=actor.user_id,
            exclude={"password_hash"},
        )
    row = (await session.execute(_invites_query().where(InviteCode.id == invite_id))).one()
    return _invite_view(row, moment)


@dataclass(frozen=True)
class TelegramIdentity:
    user_id: int
    username: str | None = None
    full_name: str | None = None


async def redeem_invite(
    db: Database, code: str, identity: TelegramIdentity, *, now: datetime | None = None
) -> User:
    """Link a Telegram account to the invited user; the code then dies.

    The code is found on the system path (the chat has no tenant yet), then the invite and
    its user are locked in their tenant's transaction.
    """
    code = code.strip()
    if not INVITE_CODE.fullmatch(code):
        raise ValidationError(ErrorCode.invite_invalid)
    moment = utc_now(now)
    async with db.system_uow() as session:
        found = (
            await session.execute(
                select(InviteCode.id, InviteCode.tenant_id).where(
                    InviteCode.code_hash == hash_invite_code(code)
                )
            )
        ).first()
        linked = await session.scalar(
            select(User.status).where(User.telegram_user_id == identity.user_id)
        )
    if linked == UserStatus.disabled.value:
        raise PermissionDeniedError(ErrorCode.account_inactive)
    if found is None:
        raise NotFoundError(ErrorCode.invite_invalid)
    if linked is not None:
        raise ConflictError(ErrorCode.already_linked)
    invite_id, tenant_id = found
    try:
        async with db.tenant_uow(tenant_id) as session:
            invite = await session.get(InviteCode, invite_id, with_for_update=True)
            if invite is None:
                raise NotFoundError(ErrorCode.invite_invalid)
            user = await session.get_one(User, invite.user_id, with_for_update=True)
            state = invite_state(invite.used_at, invite.revoked_at, invite.expires_at, moment)
            if state is InviteState.used or user.telegram_user_id is not None:
                raise ConflictError(ErrorCode.invite_used)
            if state is InviteState.revoked or user.status != UserStatus.active.value:
                raise ConflictError(ErrorCode.invite_revoked)
            if state is InviteState.expired:
                raise ValidationError(ErrorCode.invite_expired)
            before = snapshot(user, exclude={"password_hash"})
            user.telegram_user_id = identity.user_id
            user.telegram_username = identity.username
            user.telegram_name = identity.full_name
            user.full_name = user.full_name or invite.full_name
            user.last_seen_at = moment
            invite.used_at = moment
            await session.flush()
            await catch_up(session, tenant_id, user.id, now=moment)
            await record(
                session,
                tenant_id=tenant_id,
                action="user.link",
                entity_type="user",
                entity_id=user.id,
                before=before,
                after=snapshot(user, exclude={"password_hash"}),
                user_id=user.id,
            )
    except IntegrityError as exc:
        if EMAIL_CONSTRAINT in str(exc.orig):
            raise ConflictError(ErrorCode.email_taken, value=user.email) from exc
        raise ConflictError(ErrorCode.already_linked) from exc
    return user
