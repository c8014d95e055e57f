"""Shared fixtures: one PostgreSQL server per run, a freshly migrated database per run.

With INTREX_TEST_DATABASE_URL (an admin URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres)
the tests use that server; without it they start an embedded one in a temporary folder.
Either way they create their own database and drop it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from core.db.embedded import EmbeddedPostgres
from core.db.migrate import migrate
from core.db.session import Database
from core.db.target import DatabaseTarget, asyncpg_url, local_target
from core.tenancy.models import Tenant
from tests.companies import new_tenant

pytest_plugins = ["tests.peers"]


@pytest.fixture(scope="session")
def server_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A superuser URL to the maintenance database of the server the tests use."""
    configured = os.environ.get("INTREX_TEST_DATABASE_URL")
    if configured:
        yield asyncpg_url(configured)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("embedded"))
    try:
        yield embedded.start()
    finally:
        embedded.stop()


async def admin_execute(server_admin_url: URL, *statements: str) -> None:
    engine = create_async_engine(server_admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


class ScratchDatabases:
    """Creates uniquely named databases on the test server and drops them afterwards."""

    def __init__(self, server_admin_url: URL) -> None:
        self.server_admin_url = server_admin_url
        self.created: list[str] = []

    async def new_target(self) -> DatabaseTarget:
        name = f"intrex_test_{uuid.uuid4().hex[:12]}"
        await admin_execute(self.server_admin_url, f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return local_target(self.server_admin_url.set(database=name))

    async def drop_all(self) -> None:
        for name in self.created:
            await admin_execute(
                self.server_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            )


@pytest.fixture(scope="session")
async def scratch(server_admin_url: URL) -> AsyncIterator[ScratchDatabases]:
    databases = ScratchDatabases(server_admin_url)
    yield databases
    await databases.drop_all()


@pytest.fixture(scope="session")
async def target(scratch: ScratchDatabases) -> DatabaseTarget:
    """A database migrated to head once for the whole run."""
    migrated = await scratch.new_target()
    report = await migrate(migrated)
    assert report.missing == [], report.missing
    return migrated


@pytest.fixture(scope="session")
async def db(target: DatabaseTarget) -> AsyncIterator[Database]:
    """The runtime pools (roles intrex_app and intrex_system), as the bot and workers use them."""
    database = Database(target.runtime_url, system_url=target.system_url, pool_size=4)
    yield database
    await database.dispose()


@pytest.fixture
async def private_target(scratch: ScratchDatabases) -> DatabaseTarget:
    """A database of this test's own, migrated to head."""
    own = await scratch.new_target()
    report = await migrate(own)
    assert report.missing == [], report.missing
    return own


@pytest.fixture
async def private_db(private_target: DatabaseTarget) -> AsyncIterator[Database]:
    """The runtime pool on `private_target`, for tests whose work spans every tenant."""
    database = Database(
        private_target.runtime_url, system_url=private_target.system_url, pool_size=2
    )
    yield database
    await database.dispose()


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    """A fresh tenant (Asia/Dhaka) on the shared database: `tests.companies.new_tenant`."""
    return await new_tenant(db)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
