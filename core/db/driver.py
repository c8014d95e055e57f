"""The hot path's statements, run on the driver connection underneath SQLAlchemy's pool.

Every chat update runs the same three reads (who is this Telegram user, the acting user,
the page of obligations). Through SQLAlchemy's execution layer each costs more Python than
the reply's own text: parameter processing, result metadata, a greenlet hop. Here the SQL
is still written once as a Core statement and compiled once for asyncpg; each call only
expands it for its values (`construct_expanded_state`: list lengths and literal limits)
and hands it to asyncpg, which keeps the prepared statement per connection. The
connection is the one SQLAlchemy checked out, in its transaction and with its tenant
setting, so row-level security applies exactly as for any other statement.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


@functools.cache
def _compiled(statement: Executable) -> SQLCompiler:
    compiled = statement.compile(dialect=DIALECT)  # type: ignore[attr-defined]
    assert isinstance(compiled, SQLCompiler)
    return compiled


def expanded(statement: Executable, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The driver's SQL and positional arguments of `statement` for `values`."""
    state = _compiled(statement).construct_expanded_state(values)
    order = state.positiontup or ()
    return state.statement, [state.parameters[name] for name in order]


async def fetch_on(driver: Any, statement: Executable, values: dict[str, Any]) -> Sequence[Any]:
    """The rows (asyncpg Records: read by column name) of `statement` for `values`, on the
    asyncpg connection `driver`."""
    sql, arguments = expanded(statement, values)
    return list(await driver.fetch(sql, *arguments))


async def fetch(
    connection: AsyncConnection, statement: Executable, values: dict[str, Any]
) -> Sequence[Any]:
    """`fetch_on` the asyncpg connection under `connection`, in its transaction."""
    raw = await connection.get_raw_connection()
    try:
        return await fetch_on(raw.driver_connection, statement, values)
    except DISCONNECTED:
        await connection.invalidate()
        raise


DISCONNECTED = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
"""The driver's ways of saying the connection is gone: SQLAlchemy never sees these, so the
connection is invalidated here (it must not go back to the pool). `InternalClientError`
("cannot switch to state …") is what a statement meets when the server's goodbye of a
terminated backend arrives while it is being prepared."""


async def fetch_pooled(
    engine: AsyncEngine, statement: Executable, values: dict[str, Any]
) -> Sequence[Any]:
    """One statement outside any transaction (the driver's autocommit) on a connection of
    `engine`'s pool; a dead connection is invalidated, never returned to the pool."""
    pooled = await engine.raw_connection()
    try:
        return await fetch_on(pooled.driver_connection, statement, values)
    except DISCONNECTED:
        pooled.invalidate()
        raise
    finally:
        await greenlet_spawn(pooled.close)


class DriverReads:
    """A read-only tenant transaction held on the driver alone (`Database.tenant_reads`)."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def fetch(self, statement: Executable, values: dict[str, Any]) -> Sequence[Any]:
        return await fetch_on(self._driver, statement, values)


async def rows_of(
    source: AsyncSession | AsyncConnection | DriverReads,
    statement: Executable,
    values: dict[str, Any],
) -> Sequence[Any]:
    """`statement`'s rows on the driver, in whichever unit of work the caller holds."""
    if isinstance(source, DriverReads):
        return await source.fetch(statement, values)
    connection = await source.connection() if isinstance(source, AsyncSession) else source
    return await fetch(connection, statement, values)
