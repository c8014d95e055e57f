"""What every benchmark needs: a PostgreSQL server and a scratch database migrated to head.

The server is the one named by INTREX_BENCH_DATABASE_URL or INTREX_TEST_DATABASE_URL (an
admin URL), else an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from core.db.embedded import EmbeddedPostgres
from core.db.migrate import migrate
from core.db.target import DatabaseTarget, asyncpg_url, local_target


@asynccontextmanager
async def server() -> AsyncIterator[URL]:
    configured = os.environ.get("INTREX_BENCH_DATABASE_URL") or os.environ.get(
        "INTREX_TEST_DATABASE_URL"
    )
    if configured:
        yield asyncpg_url(configured)
        return
    with tempfile.TemporaryDirectory(prefix="intrex-bench-") as folder:
        embedded = EmbeddedPostgres(Path(folder))
        try:
            yield embedded.start()
        finally:
            embedded.stop()


async def autocommit(url: URL, statement: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_database(server_url: URL) -> AsyncIterator[DatabaseTarget]:
    """A new database migrated to head, dropped afterwards."""
    name = f"intrex_bench_{uuid.uuid4().hex[:10]}"
    await autocommit(server_url, f'CREATE DATABASE "{name}"')
    admin = server_url.set(database=name)
    target = local_target(admin)
    try:
        report = await migrate(target)
        if report.missing:
            raise SystemExit("\n".join(report.missing))
        yield target
    finally:
        await autocommit(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the sample at `fraction` (0-1) of the sorted samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
