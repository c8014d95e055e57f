"""The async engine and the unit of work: one session and one transaction per update or job.

Two explicit paths exist. `tenant_uow` is what request paths use: it sets
`app.current_tenant` for the transaction only, so row-level security confines every
statement to that tenant even where a query forgets its `WHERE tenant_id`.
`system_uow` is the named path for cross-tenant work (queue claiming, sweeps, the CLI's
lookups by name): it switches to the `intrex_system` role for the transaction alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.db.roles import SYSTEM_ROLE

TENANT_SETTING = "app.current_tenant"


async def set_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Scope the current transaction to one tenant (a parameterised SET LOCAL fails on asyncpg)."""
    await session.execute(select(func.set_config(TENANT_SETTING, str(tenant_id), True)))


class Database:
    """A runtime connection pool and the two ways of opening a unit of work on it."""

    def __init__(self, url: str | URL, *, pool_size: int = 10) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def tenant_uow(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A transaction that sees and writes only `tenant_id`'s rows; commits on success."""
        async with self._sessions() as session, session.begin():
            await set_tenant(session, tenant_id)
            yield session

    @asynccontextmanager
    async def system_uow(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the cross-tenant system path; commits on success."""
        async with self._sessions() as session, session.begin():
            await session.execute(text(f"SET LOCAL ROLE {SYSTEM_ROLE}"))
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
