"""The connection pools: the system path's role, and pooled connections that die while idle."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from core.db.roles import SYSTEM_ROLE
from core.db.session import PING_AFTER_IDLE_SECONDS, Database
from core.db.target import DatabaseTarget


async def test_system_statements_run_as_the_system_role_and_tenant_paths_do_not(
    target: DatabaseTarget,
) -> None:
    database = Database(target.runtime_url, system_url=target.system_url, pool_size=1)
    try:
        user = (await database.system_execute(text("SELECT current_user"))).scalar()
        assert user == SYSTEM_ROLE
        async with database.system_uow() as session:
            assert await session.scalar(text("SELECT current_user")) == SYSTEM_ROLE
        async with database.engine.connect() as connection:
            assert await connection.scalar(text("SELECT current_user")) != SYSTEM_ROLE
    finally:
        await database.dispose()


async def _backend_pids(database: Database) -> set[int]:
    pids = set()
    for engine in (database.engine, database.system_engine):
        async with engine.connect() as connection:
            pids.add(int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0))
    return pids


@pytest.mark.parametrize("pause", [PING_AFTER_IDLE_SECONDS + 0.2, 0], ids=["idle", "busy"])
async def test_connections_killed_in_the_pool_cost_no_unit_of_work(
    target: DatabaseTarget, pause: float
) -> None:
    """Idle past the window: the ping finds the dead connection and the pool replaces it.
    Within the window: the unit of work's first statement finds out and runs on a fresh one.
    """
    database = Database(target.runtime_url, system_url=target.system_url, pool_size=1)
    admin = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        before = await _backend_pids(database)
        async with admin.connect() as connection:
            for pid in before:
                await connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await asyncio.sleep(pause)
        assert (await database.system_execute(text("SELECT 1"))).scalar() == 1
        async with database.tenant_uow(uuid.uuid4()) as session:
            assert await session.scalar(text("SELECT 1")) == 1
        async with database.tenant_connection(uuid.uuid4()) as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
        async with database.system_uow() as session:
            assert await session.scalar(text("SELECT 1")) == 1
        assert not (await _backend_pids(database)) & before
        again = await _backend_pids(database)
        async with admin.connect() as connection:
            for pid in again:
                await connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await asyncio.sleep(pause)
        [row] = await database.system_fetch(select(literal(1).label("one")), {})
        assert row["one"] == 1
        async with database.tenant_reads(uuid.uuid4()) as reads:
            [row] = await reads.fetch(select(literal(2).label("two")), {})
            assert row["two"] == 2
        assert not (await _backend_pids(database)) & again
    finally:
        await database.dispose()
        await admin.dispose()


async def test_only_a_connection_idle_past_the_window_is_pinged(target: DatabaseTarget) -> None:
    """Back-to-back units of work reuse the connection with no ping; after a pause, one ping."""
    database = Database(target.runtime_url, system_url=target.system_url, pool_size=1)
    queries: list[str] = []
    """The driver logs what it sends without parameters: transaction control and the ping."""
    try:
        async with database.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_query_logger(lambda record: queries.append(record.query))
        for _ in range(5):
            async with database.tenant_uow(uuid.uuid4()) as session:
                await session.execute(text("SELECT 1"))
        await asyncio.sleep(0.05)  # the driver calls its query loggers soon, not at once
        assert queries == ["BEGIN;", "COMMIT;"] * 5
        await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
        async with database.tenant_uow(uuid.uuid4()) as session:
            await session.execute(text("SELECT 1"))
        # The ping (in a transaction, as SQLAlchemy's asyncpg driver does it), then the work.
        await asyncio.sleep(0.05)
        assert queries[10:] == ["BEGIN;", ";", "ROLLBACK;", "BEGIN;", "COMMIT;"]
    finally:
        await database.dispose()
