"""Who may see and act on which obligation, re-checked inside every action's transaction.

Ids arrive from chat callback data, which a client can forge: every action therefore
reloads the acting user (a disabled or re-roled user loses power at once) and looks the
instance up within that user's branches, answering "not found" for anything outside them
so that nothing is revealed about other branches' rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.clock import utc_now
from core.db.enums import AppRole
from core.errors import IntrexError, NotFoundError
from core.tenancy.models import Tenant, User
from core.tenancy.scope import linked_branches, scope_for

MANAGING_ROLES = frozenset({AppRole.head_office_admin, AppRole.branch_manager})


class PermissionDeniedError(IntrexError):
    """The user is known and in scope, but their role may not do this."""


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


def require_manager(actor: Actor, action: str) -> None:
    if not actor.manages:
        raise PermissionDeniedError(
            f"Only a branch manager or a head-office admin may {action} an obligation."
        )


OBLIGATION_NOT_FOUND = "No such obligation in your branches."


def not_found() -> NotFoundError:
    return NotFoundError(OBLIGATION_NOT_FOUND)
