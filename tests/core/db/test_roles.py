"""`intrex migrate` does what the migrating user may and names exactly what it may not."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from core.db.migrate import head_revision, migrate
from core.db.target import DatabaseTarget
from tests.conftest import ScratchDatabases, admin_execute


async def test_without_createrole_migrates_and_lists_what_a_dba_must_do(
    scratch: ScratchDatabases, target: DatabaseTarget
) -> None:
    """With the shared roles in place (as a DBA would leave them), a new runtime role is missing."""
    suffix = uuid.uuid4().hex[:8]
    limited, runtime = f"limited_{suffix}", f"runtime_{suffix}"
    own = await scratch.new_target()
    await admin_execute(scratch.server_admin_url, f"CREATE ROLE {limited} LOGIN NOCREATEROLE")
    try:
        await admin_execute(
            scratch.server_admin_url,
            f'ALTER DATABASE "{own.admin_url.database}" OWNER TO {limited}',
        )
        own.admin_url = own.admin_url.set(username=limited, password=None)
        own.runtime_url = own.runtime_url.set(username=runtime)

        report = await migrate(own)

        assert report.to_revision == head_revision()
        missing = "\n".join(report.missing)
        assert f"cannot create role {runtime}" in missing
        assert f'a DBA can run: CREATE ROLE "{runtime}" LOGIN NOINHERIT' in missing
        assert f'a DBA can run: GRANT intrex_owner TO "{limited}"' in missing
        assert "cannot act as intrex_owner" in missing
        assert f"runtime role {runtime} is missing" in missing
    finally:
        await admin_execute(
            scratch.server_admin_url,
            f'DROP DATABASE IF EXISTS "{own.admin_url.database}" WITH (FORCE)',
        )
        await admin_execute(scratch.server_admin_url, f"DROP ROLE IF EXISTS {limited}")


async def test_a_superuser_runtime_role_is_refused(scratch: ScratchDatabases) -> None:
    target = await scratch.new_target()
    target.runtime_url = target.admin_url
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    async with engine.connect() as conn:
        is_super = await conn.scalar(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
    await engine.dispose()
    assert is_super, "the test server's admin URL must be a superuser"

    report = await migrate(target)

    assert any("superuser or BYPASSRLS" in line for line in report.missing)
