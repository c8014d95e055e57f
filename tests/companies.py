"""A company to test against, made through the real services: tenant, branches, obligations."""

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
from core.tenancy.models import Branch, Tenant, User, UserBranch
from core.tenancy.scope import ActorUnits
from core.tenancy.service import create_branch, create_tenant


@dataclass
class Company:
    tenant: Tenant
    dhaka: Branch
    chattogram: Branch


async def company(db: Database, name: str) -> Company:
    tenant = await create_tenant(db, name, "Asia/Dhaka")
    dhaka = await create_branch(db, tenant, code="DHK-01", name="Dhaka HQ")
    chattogram = await create_branch(db, tenant, code="CTG-02", name="Chattogram")
    return Company(tenant, dhaka, chattogram)


async def obligation(
    db: Database, company: Company, branch: Branch, title: str, *, due_in_days: int, proof: bool
) -> uuid.UUID:
    """A one-off obligation for one branch, due `due_in_days` after the tenant's local today."""
    local_today = datetime.now(ZoneInfo(company.tenant.timezone)).date()
    anchor = local_today + timedelta(days=due_in_days)
    await create_template(
        db,
        company.tenant,
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


async def person(
    db: Database,
    tenant: Tenant,
    role: AppRole,
    branches: list[Branch] | None = None,
    *,
    name: str | None = None,
) -> ActorUnits:
    """A user of `tenant` made directly (no chat), and the way to act as them."""
    async with db.tenant_uow(tenant.id) as session:
        user = User(
            tenant_id=tenant.id,
            role=role,
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            full_name=name,
        )
        session.add(user)
        await session.flush()
        for branch in branches or []:
            session.add(UserBranch(tenant_id=tenant.id, user_id=user.id, branch_id=branch.id))
    return ActorUnits(db, tenant.id, user.id)
