"""A person as they introduce themselves: name, role, company, branches."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import AppRole
from core.tenancy.models import Branch, Tenant, UserBranch
from core.tenancy.scope import Actor


@dataclass(frozen=True)
class Membership:
    full_name: str | None
    role: AppRole
    tenant_name: str
    branch_codes: list[str]


async def membership(session: AsyncSession, actor: Actor) -> Membership:
    tenant_name = await session.scalar(select(Tenant.name).where(Tenant.id == actor.tenant_id))
    codes = list(
        await session.scalars(
            select(Branch.code)
            .join(UserBranch, UserBranch.branch_id == Branch.id)
            .where(UserBranch.user_id == actor.user_id)
            .order_by(Branch.code)
        )
    )
    return Membership(actor.given_name, actor.role, tenant_name or "", codes)
