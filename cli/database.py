"""Opening the database for one CLI command: resolve, check the schema, connect, clean up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.config import Settings, get_settings
from core.db.migrate import ensure_schema
from core.db.session import Database
from core.db.target import DatabaseTarget, resolve_target


@asynccontextmanager
async def open_target(settings: Settings | None = None) -> AsyncIterator[DatabaseTarget]:
    target = resolve_target(settings or get_settings())
    try:
        yield target
    finally:
        target.close()


@asynccontextmanager
async def open_database(settings: Settings | None = None) -> AsyncIterator[Database]:
    """A runtime connection to a database at the current schema (embedded: migrated on demand)."""
    async with open_target(settings) as target:
        await ensure_schema(target)
        db = Database(target.runtime_url, pool_size=2)
        try:
            yield db
        finally:
            await db.dispose()
