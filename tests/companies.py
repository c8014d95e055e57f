"""The one way tests make a company: tenants and branches through the real services.

`new_tenant` and `new_branch` are core's `create_tenant` and `create_branch` with names
that never collide between tests; `company` is a tenant with two branches; `person` is a
user of a tenant and the way to act as them (`ActorUnits`, as the bot's handlers do);
`obligation` is a one-off obligation of one branch. Fixtures (`tenant` in tests/conftest.py,
the worlds of each suite) are thin wrappers around these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.db.enums import AppRole, ObligationCategory, Severity
from core.db.session import Database
from core.obligations.models import ObligationInstance
from core.obligations.recurrence import Recurrence
from core.obligations.templates import TemplateSpec, create_template
from core.tenancy.invites import DEFAULT_INVITE_TTL, InviteRequest, IssuedInvite, create_invite
from core.tenancy.models import Branch, Tenant, User, UserBranch
from core.tenancy.scope import ActorUnits, console_unit
from core.tenancy.service import create_branch, create_tenant


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_tenant(
    db: Database, timezone: str = "Asia/Dhaka", *, name: str | None = None
) -> Tenant:
    """A tenant made by `create_tenant`; its name is unique unless one is given."""
    return await create_tenant(db, name or unique("tenant"), timezone)


async def new_branch(
    db: Database,
    tenant: Tenant,
    code: str | None = None,
    *,
    name: str | None = None,
    district: str | None = None,
    region: str | None = None,
    city_corporation: str | None = None,
) -> Branch:
    """A branch made by `create_branch` (a random code unless one is given)."""
    code = code or f"B{uuid.uuid4().hex[:6].upper()}"
    return await create_branch(
        db,
        tenant,
        code=code,
        name=name or f"Branch {code}",
        district=district,
        region=region,
        city_corporation=city_corporation,
    )


@dataclass
class Company:
    tenant: Tenant
    dhaka: Branch
    chattogram: Branch


async def company(db: Database, name: str | None = None, timezone: str = "Asia/Dhaka") -> Company:
    """A tenant with two branches, DHK-01 (Dhaka HQ) and CTG-02 (Chattogram)."""
    tenant = await new_tenant(db, timezone, name=name)
    dhaka = await new_branch(db, tenant, "DHK-01", name="Dhaka HQ")
    chattogram = await new_branch(db, tenant, "CTG-02", name="Chattogram")
    return Company(tenant, dhaka, chattogram)


async def person(
    db: Database,
    tenant: Tenant,
    role: AppRole,
    branches: list[Branch] | None = None,
    *,
    name: str | None = None,
    email: str | None = None,
    telegram_user_id: int | None = None,
) -> ActorUnits:
    """A user of `tenant` made directly (no invite, no chat), and the way to act as them.

    `async with (await person(...))(now=...) as (session, actor)` is the acting person's
    unit of work, the actor reloaded in it; `.user_id` is their id.
    """
    async with db.tenant_uow(tenant.id) as session:
        user = User(
            tenant_id=tenant.id,
            role=role,
            email=email or f"{uuid.uuid4().hex[:8]}@example.com",
            full_name=name,
            telegram_user_id=telegram_user_id,
        )
        session.add(user)
        await session.flush()
        for branch in branches or []:
            session.add(UserBranch(tenant_id=tenant.id, user_id=user.id, branch_id=branch.id))
    return ActorUnits(db, tenant.id, user.id)


async def invite(
    db: Database,
    tenant: Tenant,
    role: AppRole,
    branch_codes: list[str] | None = None,
    *,
    email: str | None = None,
    name: str | None = None,
    ttl: timedelta = DEFAULT_INVITE_TTL,
    now: datetime | None = None,
) -> IssuedInvite:
    """An invite issued from the command line, as `intrex invite create` does."""
    async with console_unit(db, tenant.id, now=now) as (session, actor):
        request = InviteRequest(
            role=role,
            branch_codes=tuple(branch_codes or ()),
            email=email,
            full_name=name,
            ttl=ttl,
        )
        return await create_invite(session, actor, request, now=now)


async def obligation(
    db: Database, company: Company, branch: Branch, title: str, *, due_in_days: int, proof: bool
) -> uuid.UUID:
    """A one-off obligation for one branch, due `due_in_days` after the tenant's local today."""
    local_today = datetime.now(ZoneInfo(company.tenant.timezone)).date()
    anchor = local_today + timedelta(days=due_in_days)
    async with console_unit(db, company.tenant.id) as (session, actor):
        await create_template(
            session,
            actor,
            TemplateSpec(
                category=ObligationCategory.fire_safety,
                title=title,
                recurrence=Recurrence.none,
                severity=Severity.high,
                anchor_date=anchor,
                proof_required=proof,
                branch_id=branch.id,
            ),
        )
    async with db.tenant_uow(company.tenant.id) as session:
        found = await session.scalar(
            select(ObligationInstance.id).where(
                ObligationInstance.branch_id == branch.id, ObligationInstance.due_at == anchor
            )
        )
    assert found is not None
    return found


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
