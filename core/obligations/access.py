"""Who may see and act on which obligation, re-checked inside every action's transaction.

Ids arrive from chat callback data, which a client can forge: every action therefore
reloads the acting user (a disabled or re-roled user loses power at once) and looks the
instance up within that user's branches, answering "not found" for anything outside them
so that nothing is revealed about other branches' rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import AppRole
from core.errors import IntrexError, NotFoundError
from core.tenancy.models import User
from core.tenancy.scope import branch_scope

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

    def covers(self, branch_id: uuid.UUID) -> bool:
        return self.branch_ids is None or branch_id in self.branch_ids

    @property
    def manages(self) -> bool:
        return self.role in MANAGING_ROLES


async def load_actor(session: AsyncSession, user: User) -> Actor:
    """Reload `user` in this transaction (tenant-scoped) and resolve their branch scope."""
    current = await session.get(User, user.id, populate_existing=True)
    if current is None or current.tenant_id != user.tenant_id or current.status != "active":
        raise PermissionDeniedError("Your account is not active. Ask your administrator.")
    return Actor(
        user_id=current.id,
        tenant_id=current.tenant_id,
        role=current.role,
        branch_ids=await branch_scope(session, current),
    )


def require_manager(actor: Actor, action: str) -> None:
    if not actor.manages:
        raise PermissionDeniedError(
            f"Only a branch manager or a head-office admin may {action} an obligation."
        )


OBLIGATION_NOT_FOUND = "No such obligation in your branches."


def not_found() -> NotFoundError:
    return NotFoundError(OBLIGATION_NOT_FOUND)
