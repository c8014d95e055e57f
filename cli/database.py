"""Opening the database for one CLI command: resolve, check the schema, connect, clean up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from cli.output import Reply, answer
from core.config import Settings, get_settings
from core.db.migrate import ensure_schema
from core.db.session import Database
from core.db.target import DatabaseTarget, resolve_target
from core.tenancy.models import Tenant
from core.tenancy.service import resolve_tenant


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
        db = Database(target.runtime_url, system_url=target.system_url, pool_size=2)
        try:
            yield db
        finally:
            await db.dispose()


def answer_from_database(as_json: bool, work: Callable[[Database], Awaitable[Reply]]) -> None:
    """`answer` with an open database; the reply is printed once the database is closed."""

    async def run() -> Reply:
        async with open_database() as db:
            return await work(db)

    answer(as_json, run)


def answer_for_tenant(
    as_json: bool, tenant: str, work: Callable[[Database, Tenant], Awaitable[Reply]]
) -> None:
    """`answer_from_database` for the tenant a `--tenant` value names (its id or its name)."""

    async def run(db: Database) -> Reply:
        return await work(db, await resolve_tenant(db, tenant))

    answer_from_database(as_json, run)
