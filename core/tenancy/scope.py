"""Who may act for which branch: admins for all, everyone else for their own branches."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import AppRole
from core.db.session import Database
from core.tenancy.models import User, UserBranch


async def branch_scope(session: AsyncSession, user: User) -> frozenset[uuid.UUID] | None:
    """The branch ids `user` may act for, or None meaning every branch (head office)."""
    if user.role is AppRole.head_office_admin:
        return None
    rows = await session.scalars(select(UserBranch.branch_id).where(UserBranch.user_id == user.id))
    return frozenset(rows)


def in_scope(scope: frozenset[uuid.UUID] | None, branch_id: uuid.UUID | None) -> bool:
    """Whether a row of `branch_id` (None: tenant-wide) is within `scope`."""
    if scope is None:
        return True
    return branch_id is not None and branch_id in scope


async def scope_of(db: Database, user: User) -> frozenset[uuid.UUID] | None:
    """`branch_scope` in a unit of work of its own, for callers without a session."""
    async with db.tenant_uow(user.tenant_id) as session:
        current = await session.get(User, user.id)
        if current is None or current.status != "active":
            return frozenset()
        return await branch_scope(session, current)
