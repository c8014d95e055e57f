"""Who may act for which branch: admins for all, everyone else for their own branches."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import AppRole
from core.db.session import Database
from core.tenancy.models import User, UserBranch


def scope_for(role: AppRole, branch_ids: Iterable[uuid.UUID] | None) -> frozenset[uuid.UUID] | None:
    """The branch ids a user of `role` linked to `branch_ids` may act for; None: every branch."""
    if role is AppRole.head_office_admin:
        return None
    return frozenset(branch_ids or ())


def linked_branches(user_id: Any) -> Any:
    """A scalar subquery: the array of branch ids linked to `user_id` (a column or a value)."""
    return (
        select(func.array_agg(UserBranch.branch_id))
        .where(UserBranch.user_id == user_id)
        .scalar_subquery()
    )


async def branch_scope(session: AsyncSession, user: User) -> frozenset[uuid.UUID] | None:
    """The branch ids `user` may act for, or None meaning every branch (head office)."""
    if user.role is AppRole.head_office_admin:
        return None
    return scope_for(user.role, await session.scalar(select(linked_branches(user.id))))


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
