"""The async engines and the unit of work: one session and one transaction per update or job.

Two explicit paths exist. `tenant_uow` is what request paths use: it sets
`app.current_tenant` for the transaction only, so row-level security confines every
statement to that tenant even where a query forgets its `WHERE tenant_id`.
`system_uow` is the named path for cross-tenant work (queue claiming, sweeps, the CLI's
lookups by name). It runs on a pool of its own, logged in as `intrex_system` with a URL of
its own (DATABASE_SYSTEM_URL): the runtime role is a member of no role that sees more than
one tenant, so nothing run on a tenant connection can switch to this path. The two paths
never share a connection, and a system transaction costs no extra statement. `system_execute` is the
same path for a single statement that needs no transaction of its own (a chat's lookup
by Telegram id, a conversation-state upsert): one round trip, committed by the server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import String, bindparam, event, func, select
from sqlalchemy.engine import URL, Result
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

from core.db.driver import DISCONNECTED, DriverReads, fetch_on, fetch_pooled

TENANT_SETTING = "app.current_tenant"


SET_TENANT = select(func.set_config(TENANT_SETTING, bindparam("tenant_id", type_=String), True))
"""A parameterised SET LOCAL fails on asyncpg; set_config(..., is_local => true) is the same."""


async def set_tenant(session: AsyncSession | AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Scope the current transaction to one tenant (a Core statement on the connection: the
    ORM session's execution path would cost more than the statement itself)."""
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    await connection.execute(SET_TENANT, {"tenant_id": str(tenant_id)})


PING_AFTER_IDLE_SECONDS = 0.5
"""A pooled connection idle longer than this is pinged before use (HikariCP's bypass window).

SQLAlchemy's pool_pre_ping pings on every checkout, and with asyncpg a ping is three round
trips (BEGIN, an empty query, ROLLBACK): more than a chat update's own statements. A
connection returned moments ago is as good as the statement it just ran; one that sat idle
may have been closed by a restart or a terminated backend, so it is checked and, if dead,
replaced before anyone sees it. A connection that dies while busy fails its statement,
and SQLAlchemy then renews the whole pool.
"""


def _ping_when_idle(engine: AsyncEngine) -> None:
    target = engine.sync_engine

    @event.listens_for(target, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(target, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("a pooled connection went away while idle") from exc


Opened = TypeVar("Opened", AsyncSession, AsyncConnection)
Returned = TypeVar("Returned")


async def _first_statement_retried(
    open_: Callable[[], Opened], first: Callable[[Opened], Awaitable[Returned]]
) -> tuple[Opened, Returned]:
    """Open a session or connection and run its first statement, on a fresh one if it died.

    Nothing has happened in the unit of work before its first statement, so a connection
    found dead there (killed while it sat in the pool for less than the ping window) is
    simply replaced. SQLAlchemy has by then invalidated the rest of the pool too.
    """
    for attempt in (1, 2):
        opened = open_()
        if isinstance(opened, AsyncConnection):
            await opened.start()
        try:
            return opened, await first(opened)
        except DBAPIError as exc:
            await opened.close()
            if attempt == 1 and exc.connection_invalidated:
                continue
            raise
        except BaseException:
            await opened.close()
            raise
    raise AssertionError("unreachable")


@asynccontextmanager
async def _committed(opened: Opened) -> AsyncIterator[Opened]:
    """Commit on success, roll back on any error, close in every case."""
    try:
        yield opened
    except BaseException:
        await opened.rollback()
        raise
    else:
        await opened.commit()
    finally:
        await opened.close()


class Database:
    """The runtime connection pools and the ways of opening a unit of work on them."""

    def __init__(self, url: str | URL, *, system_url: str | URL, pool_size: int = 10) -> None:
        """`url` is the runtime role's login, `system_url` the system role's
        (`DatabaseTarget.runtime_url` and `.system_url`). `pool_size` connections for tenant
        work (as many again in bursts), half as many for the system path, whose statements
        are short: at most three times `pool_size` connections in all. Statement parameters
        are kept out of error messages (and so out of every log line an exception makes):
        they are people's data."""
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True
        )
        system_size = max(1, pool_size // 2)
        self.system_engine: AsyncEngine = create_async_engine(
            system_url, pool_size=system_size, max_overflow=system_size, hide_parameters=True
        )
        _ping_when_idle(self.engine)
        _ping_when_idle(self.system_engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._system_sessions = async_sessionmaker(self.system_engine, expire_on_commit=False)
        self._system_autocommit = self.system_engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def tenant_uow(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A transaction that sees and writes only `tenant_id`'s rows; commits on success."""
        session, _ = await _first_statement_retried(
            self._sessions, lambda fresh: set_tenant(fresh, tenant_id)
        )
        async with _committed(session):
            yield session

    @asynccontextmanager
    async def tenant_connection(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncConnection]:
        """`tenant_uow` for Core statements: the same scope without an ORM session's upkeep.

        For the paths every chat update takes, where the session's bookkeeping would cost
        more than the statements themselves.
        """
        connection, _ = await _first_statement_retried(
            self.engine.connect, lambda fresh: set_tenant(fresh, tenant_id)
        )
        async with _committed(connection):
            yield connection

    @asynccontextmanager
    async def tenant_work(
        self, tenant_id: uuid.UUID
    ) -> AsyncIterator[tuple[AsyncConnection, AsyncSession]]:
        """`tenant_connection` offered both ways: its Core connection, for the statements
        every update runs, and an ORM session on that same connection, for the services
        that need one. The session joins the transaction and can neither commit nor end it
        (it is flushed at the end); the transaction commits on success."""
        async with self.tenant_connection(tenant_id) as connection:
            session = AsyncSession(
                bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only"
            )
            try:
                yield connection, session
                await session.flush()
            finally:
                await session.close()

    @asynccontextmanager
    async def tenant_reads(self, tenant_id: uuid.UUID) -> AsyncIterator[DriverReads]:
        """A read-only transaction scoped to one tenant (the same `SET_TENANT`, row-level
        security on) on a connection of the tenant pool, with no SQLAlchemy connection or
        session around it (`core.db.driver`): for the pages every chat update asks for.
        A connection found dead at the start is replaced once, as for `tenant_uow`; a dead
        connection is invalidated, never returned to the pool."""
        for attempt in (1, 2):
            pooled = await self.engine.raw_connection()
            driver = pooled.driver_connection
            try:
                transaction = driver.transaction(readonly=True)  # type: ignore[union-attr]
                await transaction.start()
                await fetch_on(driver, SET_TENANT, {"tenant_id": str(tenant_id)})
            except DISCONNECTED:
                pooled.invalidate()
                await greenlet_spawn(pooled.close)
                if attempt == 2:
                    raise
                continue
            break
        try:
            yield DriverReads(driver)
        except BaseException as error:
            if isinstance(error, DISCONNECTED):
                pooled.invalidate()
            else:
                await transaction.rollback()
            raise
        else:
            await transaction.commit()
        finally:
            await greenlet_spawn(pooled.close)

    @asynccontextmanager
    async def system_uow(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the cross-tenant system path; commits on success."""
        async with self._system_sessions() as session, session.begin():
            yield session

    async def system_execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> Result[Any]:
        """One idempotent statement on the system path, as its own transaction.

        Retried once if its connection turns out to be dead, which the idle-only ping lets
        through right after a server restart.
        """

        async def run(connection: AsyncConnection) -> Result[Any]:
            return await connection.execute(statement, parameters or {})

        connection, result = await _first_statement_retried(self._system_autocommit.connect, run)
        await connection.close()
        return result

    async def system_fetch(
        self, statement: Executable, parameters: dict[str, Any]
    ) -> Sequence[Any]:
        """`system_execute` on the driver (`core.db.driver`): one statement, no transaction,
        rows as asyncpg Records. Retried once on a fresh connection if its connection turns
        out to be dead."""
        for attempt in (1, 2):
            try:
                return await fetch_pooled(self.system_engine, statement, parameters)
            except DISCONNECTED:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.system_engine.dispose()
