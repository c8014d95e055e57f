"""Who is acting: the user as the database says now, their branches, their tenant's today.

Ids arrive from chat callback data, which a client can forge, so the acting user is
reloaded inside the very transaction that acts (`load_actor`), once per update: a disabled
or re-roled user loses power at once, and every core service and policy is handed the same
`Actor`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.clock import utc_now
from core.db.driver import DriverReads, rows_of
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import ErrorCode, PermissionDeniedError
from core.tenancy.models import Tenant, User, UserBranch
from core.tenancy.names import person_name


def scope_for(role: AppRole, branch_ids: Iterable[uuid.UUID] | None) -> frozenset[uuid.UUID] | None:
    """The branch ids a user of `role` linked to `branch_ids` may act for; None: every branch."""
    if role.head_office:
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
    if user.role.head_office:
        return None
    return scope_for(user.role, await session.scalar(select(linked_branches(user.id))))


@dataclass(frozen=True)
class Actor:
    """The acting user as the database says now, with what every surface needs to know."""

    user_id: int | None
    """None for the command line: whoever holds the database credentials acts as head office,
    and the audit records no user."""
    tenant_id: uuid.UUID
    role: AppRole
    branch_ids: frozenset[uuid.UUID] | None
    """None for a head-office admin: every branch of the tenant."""
    today: date
    """The tenant's local date when the actor was loaded (its time zone, by PostgreSQL)."""
    timezone: str
    full_name: str | None = None
    email: str | None = None
    telegram_name: str | None = None
    telegram_username: str | None = None
    language: str | None = None
    """The person's own choice (/language); None when they made none."""
    tenant_language: str | None = None

    def covers(self, branch_id: uuid.UUID | None) -> bool:
        """Whether a row of `branch_id` is in scope; a row of no branch is head office's."""
        if self.branch_ids is None:
            return True
        return branch_id is not None and branch_id in self.branch_ids

    def owns_tenant_row(self, tenant_id: uuid.UUID, branch_id: uuid.UUID | None) -> bool:
        """Same tenant and in scope: the first question of every policy."""
        return tenant_id == self.tenant_id and self.covers(branch_id)

    @property
    def manages(self) -> bool:
        return self.role.manages

    @property
    def display_name(self) -> str:
        """ "Karim Ahmed (@karim_dhk)": how the audit and other people see them."""
        return person_name(
            self.full_name, self.telegram_name, self.telegram_username, self.email, self.user_id
        )

    @property
    def given_name(self) -> str | None:
        """What to call them in a greeting: the name head office gave, else Telegram's."""
        return self.full_name or self.telegram_name

    @property
    def person_id(self) -> int:
        """The acting user's id, for what only a person does (a chat upload); the command
        line is refused."""
        if self.user_id is None:
            raise PermissionDeniedError(ErrorCode.account_inactive)
        return self.user_id


def _actor_query() -> Any:
    today = cast(func.timezone(Tenant.timezone, bindparam("now", type_=DateTime(True))), Date)
    return (
        select(
            User.tenant_id,
            User.role,
            User.status,
            User.full_name,
            User.email,
            User.telegram_name,
            User.telegram_username,
            User.language,
            Tenant.timezone,
            Tenant.language.label("tenant_language"),
            today.label("today"),
            linked_branches(User.id).label("branch_ids"),
        )
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.id == bindparam("user_id"))
    )


ACTOR_QUERY = _actor_query()
"""Built once: every update that acts runs it first."""


async def load_actor(
    session: AsyncSession | AsyncConnection | DriverReads,
    user_id: int,
    *,
    now: datetime | None = None,
) -> Actor:
    """Reload the user in this (tenant-scoped) transaction: one statement.

    Row-level security confines the lookup to the transaction's tenant, so a user id of
    another tenant is simply not found. An inactive user is refused. Run on the driver
    (`core.db.driver`): every update that acts pays for it.
    """
    rows = await rows_of(session, ACTOR_QUERY, {"user_id": user_id, "now": utc_now(now)})
    row = rows[0] if rows else None
    if row is None or row["status"] != "active":
        raise PermissionDeniedError(ErrorCode.account_inactive)
    role = AppRole(row["role"])
    return Actor(
        user_id=user_id,
        tenant_id=row["tenant_id"],
        role=role,
        branch_ids=scope_for(role, row["branch_ids"]),
        today=row["today"],
        timezone=row["timezone"],
        full_name=row["full_name"],
        email=row["email"],
        telegram_name=row["telegram_name"],
        telegram_username=row["telegram_username"],
        language=row["language"],
        tenant_language=row["tenant_language"],
    )


CONSOLE_QUERY = select(
    Tenant.timezone,
    Tenant.language,
    cast(func.timezone(Tenant.timezone, bindparam("now", type_=DateTime(True))), Date).label(
        "today"
    ),
).where(Tenant.id == bindparam("tenant_id"))


async def console_actor(
    session: AsyncSession, tenant_id: uuid.UUID, *, now: datetime | None = None
) -> Actor:
    """The command line acting in `tenant_id`: head office powers, no user (SPEC §2)."""
    row = (
        await session.execute(CONSOLE_QUERY, {"tenant_id": tenant_id, "now": utc_now(now)})
    ).one()
    return Actor(
        user_id=None,
        tenant_id=tenant_id,
        role=AppRole.head_office_admin,
        branch_ids=None,
        today=row.today,
        timezone=row.timezone,
        tenant_language=row.language,
    )


@asynccontextmanager
async def console_unit(
    db: Database, tenant_id: uuid.UUID, *, now: datetime | None = None
) -> AsyncIterator[tuple[AsyncSession, Actor]]:
    """One unit of work of the command line in `tenant_id`, and its actor."""
    async with db.tenant_uow(tenant_id) as session:
        yield session, await console_actor(session, tenant_id, now=now)


class ActorUnits:
    """Opens tenant units of work for one acting person; each one reloads the actor.

    For work that spans the network (a certificate check, a file download): each phase is
    its own transaction and sees the person as they are at that moment.
    """

    def __init__(self, db: Database, tenant_id: uuid.UUID, user_id: int) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.user_id = user_id

    @asynccontextmanager
    async def __call__(
        self, *, now: datetime | None = None
    ) -> AsyncIterator[tuple[AsyncSession, Actor]]:
        async with self.db.tenant_uow(self.tenant_id) as session:
            yield session, await load_actor(session, self.user_id, now=now)
