"""Building a small world of branches, users and templates through the real services."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import func, select

from core.audit.models import ActivityLog
from core.db.enums import AppRole, ObligationCategory, Severity
from core.db.session import Database
from core.obligations.models import ObligationInstance
from core.obligations.recurrence import Recurrence
from core.obligations.service import TemplateResult, TemplateSpec, create_template
from core.tenancy.models import Branch, Tenant, User, UserBranch
from core.tenancy.service import create_branch, create_tenant


async def new_tenant(db: Database, timezone: str = "Asia/Dhaka") -> Tenant:
    return await create_tenant(db, f"obl-{uuid.uuid4().hex[:10]}", timezone)


async def new_branch(
    db: Database,
    tenant: Tenant,
    code: str | None = None,
    *,
    district: str | None = None,
    region: str | None = None,
    city_corporation: str | None = None,
) -> Branch:
    return await create_branch(
        db,
        tenant,
        code=code or f"B{uuid.uuid4().hex[:6].upper()}",
        name=f"Branch {code or ''}".strip(),
        district=district,
        region=region,
        city_corporation=city_corporation,
    )


async def new_user(
    db: Database, tenant: Tenant, role: AppRole, branches: list[Branch] | None = None
) -> User:
    async with db.tenant_uow(tenant.id) as session:
        user = User(tenant_id=tenant.id, role=role, email=f"{uuid.uuid4().hex[:8]}@example.com")
        session.add(user)
        await session.flush()
        for branch in branches or []:
            session.add(UserBranch(tenant_id=tenant.id, user_id=user.id, branch_id=branch.id))
    return user


async def new_template(
    db: Database,
    tenant: Tenant,
    *,
    anchor: date,
    recurrence: Recurrence = Recurrence.monthly,
    branch: Branch | None = None,
    jurisdiction_id: uuid.UUID | None = None,
    proof_required: bool = False,
    lead_days: tuple[int, ...] = (30, 14, 7, 1, 0),
    now: datetime | None = None,
    title: str = "VAT return",
    severity: Severity = Severity.high,
) -> TemplateResult:
    return await create_template(
        db,
        tenant,
        TemplateSpec(
            category=ObligationCategory.tax_vat,
            title=title,
            recurrence=recurrence,
            severity=severity,
            anchor_date=anchor,
            proof_required=proof_required,
            reminder_lead_days=lead_days,
            branch_id=branch.id if branch else None,
            jurisdiction_id=jurisdiction_id,
        ),
        now=now,
    )


async def instances_of(
    db: Database, tenant: Tenant, template_id: uuid.UUID | None = None
) -> list[ObligationInstance]:
    async with db.tenant_uow(tenant.id) as session:
        query = select(ObligationInstance).order_by(
            ObligationInstance.due_at, ObligationInstance.branch_id
        )
        if template_id is not None:
            query = query.where(ObligationInstance.template_id == template_id)
        return list(await session.scalars(query))


async def audit_count(db: Database, tenant: Tenant, action: str) -> int:
    async with db.tenant_uow(tenant.id) as session:
        found = await session.scalar(select(func.count()).where(ActivityLog.action == action))
    return int(found or 0)
