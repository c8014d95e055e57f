"""Tenants, branches and invites: the services the CLI and the bot share.

Each function is one unit of work (it opens and commits its own transaction), validates
its input first and answers bad input with an `IntrexError`: a code and its parameters, which
the CLI and the bot word for their reader.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.audit import add_recorded, record, record_update, snapshot
from core.clock import utc_now
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import ConflictError, ErrorCode, NotFoundError, ValidationError
from core.i18n import N_
from core.parsing import parse_enum
from core.tenancy.models import Branch, InviteCode, Tenant, User, UserBranch
from core.validation import is_email_address

BRANCH_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
INVITE_CODE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DEFAULT_INVITE_TTL = timedelta(days=7)
EMAIL_CONSTRAINT = "uq_users_tenant_id_email"


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(ErrorCode.timezone_unknown, value=name) from exc
    return name


def _required_text(value: str, what: str, limit: int) -> str:
    """`value` trimmed; `what` names the field (marked with `N_`) in the refusal."""
    cleaned = value.strip()
    if not cleaned:
        raise ValidationError(ErrorCode.text_empty, what=what)
    if len(cleaned) > limit:
        raise ValidationError(ErrorCode.text_too_long, what=what, limit=limit)
    return cleaned


def _optional_text(value: str | None, what: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    return _required_text(value, what, limit)


async def create_tenant(db: Database, name: str, timezone: str = "UTC") -> Tenant:
    name = _required_text(name, N_("tenant name"), 200)
    timezone = validate_timezone(timezone)
    tenant = Tenant(id=uuid.uuid4(), name=name, timezone=timezone)
    try:
        async with db.tenant_uow(tenant.id) as session:
            await add_recorded(
                session, tenant, tenant_id=tenant.id, action="tenant.create", entity_type="tenant"
            )
    except IntegrityError as exc:
        raise ConflictError(ErrorCode.tenant_exists, name=name) from exc
    return tenant


QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_quiet_hours(value: str) -> tuple[time | None, time | None]:
    """`22:00-07:00` (local time; may cross midnight), or `off`."""
    cleaned = value.strip().lower()
    if cleaned in ("off", "none", ""):
        return None, None
    match = QUIET_HOURS.fullmatch(cleaned)
    if not match:
        raise ValidationError(ErrorCode.quiet_hours_invalid, value=value.strip())
    start = time(int(match.group(1)), int(match.group(2)))
    end = time(int(match.group(3)), int(match.group(4)))
    if start == end:
        raise ValidationError(ErrorCode.quiet_hours_empty)
    return start, end


async def update_tenant(
    db: Database,
    tenant: Tenant,
    *,
    timezone: str | None = None,
    quiet_hours: str | None = None,
    user_id: int | None = None,
) -> Tenant:
    """Change a tenant's time zone or quiet hours (low and medium alerts wait through them)."""
    new_timezone = validate_timezone(timezone) if timezone is not None else None
    window = parse_quiet_hours(quiet_hours) if quiet_hours is not None else None
    async with db.tenant_uow(tenant.id) as session:
        current = await session.get_one(Tenant, tenant.id, with_for_update=True)
        before = snapshot(current)
        if new_timezone is not None:
            current.timezone = new_timezone
        if window is not None:
            current.quiet_hours_start, current.quiet_hours_end = window
        await record_update(
            session,
            current,
            before,
            tenant_id=tenant.id,
            action="tenant.update",
            entity_type="tenant",
            user_id=user_id,
        )
    return current


async def resolve_tenant(db: Database, reference: str) -> Tenant:
    """Find a tenant by id or unique name (the CLI's T); cross-tenant, so on the system path."""
    reference = reference.strip()
    try:
        condition = Tenant.id == uuid.UUID(reference)
    except ValueError:
        condition = Tenant.name == reference
    async with db.system_uow() as session:
        tenant = await session.scalar(select(Tenant).where(condition))
    if tenant is None:
        raise NotFoundError(ErrorCode.tenant_not_found, name=reference)
    return tenant


async def list_tenants(db: Database) -> list[Tenant]:
    async with db.system_uow() as session:
        return list(await session.scalars(select(Tenant).order_by(Tenant.name)))


def normalise_branch_code(code: str) -> str:
    normalised = code.strip().upper()
    if not BRANCH_CODE.fullmatch(normalised):
        raise ValidationError(ErrorCode.branch_code_invalid, value=code.strip())
    return normalised


async def create_branch(
    db: Database,
    tenant: Tenant,
    *,
    code: str,
    name: str,
    city_corporation: str | None = None,
    district: str | None = None,
    region: str | None = None,
) -> Branch:
    branch = Branch(
        tenant_id=tenant.id,
        code=normalise_branch_code(code),
        name=_required_text(name, N_("branch name"), 200),
        city_corporation=_optional_text(city_corporation, N_("city corporation"), 120),
        district=_optional_text(district, N_("district"), 120),
        region=_optional_text(region, N_("region"), 120),
    )
    try:
        async with db.tenant_uow(tenant.id) as session:
            await add_recorded(
                session, branch, tenant_id=tenant.id, action="branch.create", entity_type="branch"
            )
    except IntegrityError as exc:
        raise ConflictError(ErrorCode.branch_exists, code=branch.code) from exc
    return branch


async def list_branches(db: Database, tenant: Tenant) -> list[Branch]:
    async with db.tenant_uow(tenant.id) as session:
        return list(await session.scalars(select(Branch).order_by(Branch.code)))


async def find_branch(db: Database, tenant: Tenant, code: str) -> Branch:
    normalised = normalise_branch_code(code)
    async with db.tenant_uow(tenant.id) as session:
        branch = await session.scalar(select(Branch).where(Branch.code == normalised))
    if branch is None:
        raise NotFoundError(ErrorCode.branch_not_found, code=normalised)
    return branch


def hash_invite_code(code: str) -> str:
    """Invite codes carry 144 random bits, so a plain SHA-256 makes the stored value useless."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    """The only moment the plain code exists: shown once to whoever issued it."""

    code: str
    invite: InviteCode
    branch_code: str | None

    def deep_link(self, bot_username: str | None) -> str:
        return f"https://t.me/{bot_username or '<bot>'}?start={self.code}"


def with_article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def parse_role(value: str) -> AppRole:
    return parse_enum(AppRole, value, N_("role"))


async def create_invite(
    db: Database,
    tenant: Tenant,
    *,
    role: AppRole,
    branch_code: str | None = None,
    email: str | None = None,
    created_by_user_id: int | None = None,
    ttl: timedelta = DEFAULT_INVITE_TTL,
    now: datetime | None = None,
) -> IssuedInvite:
    """Issue a single-use, expiring code; only its hash is stored."""
    if role is AppRole.head_office_admin and branch_code:
        raise ValidationError(ErrorCode.invite_branch_unwanted, role=role)
    if role is not AppRole.head_office_admin and not branch_code:
        raise ValidationError(ErrorCode.invite_branch_needed, role=role)
    if ttl <= timedelta(0):
        raise ValidationError(ErrorCode.invite_ttl_invalid)
    if email is not None:
        email = email.strip().lower()
        if not is_email_address(email):
            raise ValidationError(ErrorCode.email_invalid, value=email)
    branch = await find_branch(db, tenant, branch_code) if branch_code else None
    code = secrets.token_urlsafe(18)
    issued_at = utc_now(now)
    invite = InviteCode(
        tenant_id=tenant.id,
        code_hash=hash_invite_code(code),
        role=role,
        branch_id=branch.id if branch else None,
        email=email,
        created_by_user_id=created_by_user_id,
        expires_at=issued_at + ttl,
    )
    async with db.tenant_uow(tenant.id) as session:
        await add_recorded(
            session,
            invite,
            tenant_id=tenant.id,
            action="invite.create",
            entity_type="invite_code",
            user_id=created_by_user_id,
            exclude={"code_hash"},
        )
    return IssuedInvite(code=code, invite=invite, branch_code=branch.code if branch else None)


@dataclass(frozen=True)
class TelegramIdentity:
    user_id: int
    username: str | None = None
    full_name: str | None = None


async def redeem_invite(
    db: Database, code: str, identity: TelegramIdentity, *, now: datetime | None = None
) -> User:
    """Link a Telegram account to a new user of the inviting tenant; the code then dies."""
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
            select(User.id).where(User.telegram_user_id == identity.user_id)
        )
    if found is None:
        raise NotFoundError(ErrorCode.invite_invalid)
    if linked is not None:
        raise ConflictError(ErrorCode.already_linked)
    invite_id, tenant_id = found
    invited_email: str | None = None
    try:
        async with db.tenant_uow(tenant_id) as session:
            invite = await session.get(InviteCode, invite_id, with_for_update=True)
            if invite is None:
                raise NotFoundError(ErrorCode.invite_invalid)
            if invite.used_at is not None:
                raise ConflictError(ErrorCode.invite_used)
            if invite.expires_at <= moment:
                raise ValidationError(ErrorCode.invite_expired)
            invited_email = invite.email
            user = User(
                tenant_id=tenant_id,
                email=invite.email,
                role=invite.role,
                telegram_user_id=identity.user_id,
                telegram_username=identity.username,
                full_name=identity.full_name,
            )
            session.add(user)
            await session.flush()
            if invite.branch_id is not None:
                session.add(
                    UserBranch(tenant_id=tenant_id, user_id=user.id, branch_id=invite.branch_id)
                )
            invite.used_at = moment
            invite.used_by_user_id = user.id
            await session.flush()
            await session.refresh(user)
            await record(
                session,
                tenant_id=tenant_id,
                action="user.link",
                entity_type="user",
                entity_id=user.id,
                after=snapshot(user, exclude={"password_hash"}),
                user_id=user.id,
            )
    except IntegrityError as exc:
        if invited_email is not None and EMAIL_CONSTRAINT in str(exc.orig):
            raise ConflictError(ErrorCode.email_taken, value=invited_email) from exc
        raise ConflictError(ErrorCode.already_linked) from exc
    return user
