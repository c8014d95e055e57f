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
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

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


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection` (in its transaction, if it has one)."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def fetch(
    connection: AsyncConnection, statement: Executable, values: dict[str, Any]
) -> Sequence[Any]:
    """The rows (asyncpg Records: read by column name) of `statement` for `values`."""
    sql, arguments = expanded(statement, values)
    driver = await driver_connection(connection)
    try:
        return list(await driver.fetch(sql, *arguments))
    except DISCONNECTED:
        await connection.invalidate()
        raise


DISCONNECTED = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
)
"""The driver's ways of saying the connection is gone: SQLAlchemy never sees these, so the
connection is invalidated here (it must not go back to the pool)."""
