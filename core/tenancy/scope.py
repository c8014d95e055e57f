"""Who is acting and for which branches: admins for all, everyone else for their own.

Ids arrive from chat callback data, which a client can forge, so every action reloads the
acting user inside its own transaction (`load_actor`): a disabled or re-roled user loses
power at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.clock import utc_now
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import PermissionDeniedError
from core.tenancy.models import Tenant, User, UserBranch


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


MANAGING_ROLES = frozenset({AppRole.head_office_admin, AppRole.branch_manager})


@dataclass(frozen=True)
class Actor:
    """The acting user as the database says now, with the branches they may act for."""

    user_id: int
    tenant_id: uuid.UUID
    role: AppRole
    branch_ids: frozenset[uuid.UUID] | None
    """None for a head-office admin: every branch of the tenant."""
    today: date
    """The tenant's local date when the actor was loaded (its time zone, by PostgreSQL)."""

    def covers(self, branch_id: uuid.UUID) -> bool:
        return self.branch_ids is None or branch_id in self.branch_ids

    @property
    def manages(self) -> bool:
        return self.role in MANAGING_ROLES


def _actor_query() -> Any:
    today = cast(func.timezone(Tenant.timezone, bindparam("now", type_=DateTime(True))), Date)
    return (
        select(
            User.tenant_id,
            User.role,
            User.status,
            today.label("today"),
            linked_branches(User.id).label("branch_ids"),
        )
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.id == bindparam("user_id"))
    )


ACTOR_QUERY = _actor_query()
"""Built once: every action runs it first."""


async def load_actor(
    session: AsyncSession | AsyncConnection, user: User, *, now: datetime | None = None
) -> Actor:
    """Reload `user` in this transaction (tenant-scoped): role, branches and the tenant's today.

    One statement, so that re-checking on every action stays cheap.
    """
    row = (await session.execute(ACTOR_QUERY, {"user_id": user.id, "now": utc_now(now)})).first()
    if row is None or row.tenant_id != user.tenant_id or row.status != "active":
        raise PermissionDeniedError("Your account is not active. Ask your administrator.")
    role = AppRole(row.role)
    return Actor(
        user_id=user.id,
        tenant_id=row.tenant_id,
        role=role,
        branch_ids=scope_for(role, row.branch_ids),
        today=row.today,
    )


async def scope_of(db: Database, user: User) -> frozenset[uuid.UUID] | None:
    """The branches `user` may act for now, in a unit of work of its own; none if inactive."""
    async with db.tenant_uow(user.tenant_id) as session:
        try:
            return (await load_actor(session, user)).branch_ids
        except PermissionDeniedError:
            return frozenset()
