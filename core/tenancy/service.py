"""Tenants and branches: the services the CLI and the bot share.

Creating and finding (the command line's first steps) open their own unit of work; the
changes an actor makes (`update_branch`, `set_branch_active`) take the caller's session and
the actor, and never commit. Bad input is answered with an `IntrexError`: a code and its
parameters, which the CLI and the bot word for their reader.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record_update, snapshot
from core.clock import utc_now
from core.db.enums import BranchStatus
from core.db.session import Database
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.i18n import N_
from core.obligations.generation import generate_instances
from core.obligations.reference import Places, place_index
from core.obligations.schedule import tenant_today
from core.tenancy import policy
from core.tenancy.models import Branch, Tenant
from core.tenancy.scope import Actor

BRANCH_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


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
    """A new branch; its places are checked against the reference data (`_places`), and
    the templates that apply to it generate its obligations in the same transaction."""
    branch = Branch(
        tenant_id=tenant.id,
        code=normalise_branch_code(code),
        name=_required_text(name, N_("branch name"), 200),
    )
    given = _given_places(region, district, city_corporation)
    try:
        async with db.tenant_uow(tenant.id) as session:
            places = await _places(session, given)
            branch.region, branch.district = places.region, places.district
            branch.city_corporation = places.city_corporation
            await add_recorded(
                session, branch, tenant_id=tenant.id, action="branch.create", entity_type="branch"
            )
            today = await tenant_today(session, tenant.id, utc_now())
            await generate_instances(session, tenant_id=tenant.id, today=today, branch_id=branch.id)
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


@dataclass(frozen=True)
class BranchChanges:
    """What to change; None leaves a field as it is, an empty value clears an optional one."""

    name: str | None = None
    city_corporation: str | None = None
    district: str | None = None
    region: str | None = None


def _given_places(region: str | None, district: str | None, city_corporation: str | None) -> Places:
    """The places as typed: trimmed, blank as None, each within the column's length."""
    return Places(
        region=_optional_text(region, N_("region"), 120),
        district=_optional_text(district, N_("district"), 120),
        city_corporation=_optional_text(city_corporation, N_("city corporation"), 120),
    )


async def _places(session: AsyncSession, given: Places) -> Places:
    """`given` checked against Bangladesh's reference places, in their canonical names.

    Each value must name a known division, district or city corporation (English in any
    case or spacing, Bengali, or a city corporation's short form), narrower places must lie
    in the broader ones, and broader levels left out are filled in. Without reference data
    in the database (a bare test schema) the values are kept as given.
    """
    if given == Places():
        return given
    index = await place_index(session)
    if not index:
        return given
    return index.resolve(given.region, given.district, given.city_corporation)


async def _locked_branch(session: AsyncSession, actor: Actor, code: str) -> Branch:
    if not policy.can_manage_branches(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    normalised = normalise_branch_code(code)
    branch = await session.scalar(select(Branch).where(Branch.code == normalised).with_for_update())
    if branch is None:
        raise NotFoundError(ErrorCode.branch_not_found, code=normalised)
    return branch


def _moved(branch: Branch, changes: BranchChanges, *, implied: bool) -> Places:
    """Where the branch is after `changes`, before checking. With `implied`, a changed place
    leaves out the broader ones it implies unless they are changed too (moving into a city
    corporation moves district and division along); narrower places stay and must fit."""
    given = _given_places(changes.region, changes.district, changes.city_corporation)
    corporation = branch.city_corporation
    if changes.city_corporation is not None:
        corporation = given.city_corporation
    district = None if implied and given.city_corporation else branch.district
    if changes.district is not None:
        district = given.district
    region = None if implied and (given.city_corporation or given.district) else branch.region
    if changes.region is not None:
        region = given.region
    return Places(region=region, district=district, city_corporation=corporation)


async def update_branch(
    session: AsyncSession, actor: Actor, code: str, changes: BranchChanges
) -> Branch:
    """Rename a branch or change where it is; audited with before and after.

    A branch moved into a jurisdiction gets that jurisdiction's obligations at once (the
    instances it already has stay: they were due where it was).
    """
    branch = await _locked_branch(session, actor, code)
    before = snapshot(branch)
    if changes.name is not None:
        branch.name = _required_text(changes.name, N_("branch name"), 200)
    if (changes.region, changes.district, changes.city_corporation) != (None, None, None):
        index = await place_index(session)
        places = _moved(branch, changes, implied=bool(index))
        if index:
            places = index.resolve(places.region, places.district, places.city_corporation)
        branch.region, branch.district = places.region, places.district
        branch.city_corporation = places.city_corporation
    await record_update(
        session,
        branch,
        before,
        tenant_id=actor.tenant_id,
        action="branch.update",
        entity_type="branch",
        user_id=actor.user_id,
    )
    if snapshot(branch) != before:
        await generate_instances(
            session, tenant_id=actor.tenant_id, today=actor.today, branch_id=branch.id
        )
    return branch


async def set_branch_active(
    session: AsyncSession, actor: Actor, code: str, active: bool
) -> tuple[Branch, bool]:
    """Deactivate or activate a branch; returns it and whether anything changed.

    A deactivated branch generates no new obligations and its domains are not checked;
    its open obligations stay visible to head office and nothing of it is deleted.
    """
    branch = await _locked_branch(session, actor, code)
    wanted = BranchStatus.active if active else BranchStatus.inactive
    if branch.status == wanted:
        return branch, False
    before = snapshot(branch)
    branch.status = wanted.value
    await record_update(
        session,
        branch,
        before,
        tenant_id=actor.tenant_id,
        action="branch.activate" if active else "branch.deactivate",
        entity_type="branch",
        user_id=actor.user_id,
    )
    if active:
        await session.flush()
        await generate_instances(
            session, tenant_id=actor.tenant_id, today=actor.today, branch_id=branch.id
        )
    return branch, True
