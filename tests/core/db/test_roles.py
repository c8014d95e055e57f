"""`intrex migrate` does what the migrating user may and names exactly what it may not; the
runtime role ends with no way to become a role that sees every tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from core.config import Settings
from core.db.embedded import EMBEDDED_DATABASE, EmbeddedPostgres
from core.db.migrate import ensure_schema, head_revision, migrate
from core.db.roles import OWNER_ROLE, SYSTEM_ROLE
from core.db.session import Database
from core.db.target import DatabaseTarget, local_target, resolve_target
from core.errors import ConfigurationError, ErrorCode
from core.ssl.models import Domain
from core.ssl.scheduler import claim_due
from tests.companies import new_tenant
from tests.conftest import ScratchDatabases, admin_execute

MEMBERSHIPS = text(
    "SELECT granted.rolname FROM pg_auth_members AS m "
    "JOIN pg_roles AS granted ON granted.oid = m.roleid "
    "JOIN pg_roles AS member ON member.oid = m.member WHERE member.rolname = :member"
)
ROLES = text(
    "SELECT rolname, rolcanlogin, rolinherit, rolsuper, rolbypassrls FROM pg_roles "
    "WHERE rolname IN ('intrex_owner', 'intrex_system', 'intrex_app') ORDER BY rolname"
)


async def _rows(url: URL, statement: Any, **parameters: Any) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(statement, parameters)]
    finally:
        await engine.dispose()


async def _set_role_refused(conn: AsyncConnection, role: str) -> str:
    savepoint = await conn.begin_nested()
    with pytest.raises(DBAPIError) as refused:
        await conn.execute(text(f"SET ROLE {role}"))
    await savepoint.rollback()
    return str(refused.value.orig)


async def test_the_runtime_role_cannot_become_the_system_or_owner_role(
    target: DatabaseTarget,
) -> None:
    engine = create_async_engine(target.runtime_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for role in (SYSTEM_ROLE, OWNER_ROLE):
                assert "permission denied" in await _set_role_refused(conn, role)
            assert await conn.scalar(text("SELECT current_user")) == target.runtime_role
            memberships = await conn.scalars(MEMBERSHIPS, {"member": target.runtime_role})
            assert list(memberships) == [], "pg_auth_members has no row for the runtime role"
            assert await conn.scalar(text("SELECT count(*) FROM tenants")) == 0
    finally:
        await engine.dispose()


async def test_the_system_login_claims_across_tenants(private_db: Database) -> None:
    """The dispatcher's kind of work: one claim on the system login takes both tenants' rows."""
    tenants = [await new_tenant(private_db, "UTC") for _ in range(2)]
    for tenant in tenants:
        async with private_db.tenant_uow(tenant.id) as session:
            session.add(Domain(tenant_id=tenant.id, hostname=f"{tenant.id.hex}.intrex.test"))

    claimed = await claim_due(
        private_db,
        now=datetime.now(UTC) + timedelta(seconds=1),
        lease=timedelta(minutes=5),
        token=uuid.uuid4(),
        limit=10,
    )

    assert {domain.tenant_id for domain in claimed} == {tenant.id for tenant in tenants}
    async with private_db.system_uow() as session:
        assert await session.scalar(text("SELECT session_user")) == SYSTEM_ROLE
        assert await session.scalar(text("SELECT count(*) FROM tenants")) == 2


async def test_a_second_migrate_changes_nothing_and_keeps_working(
    private_target: DatabaseTarget,
) -> None:
    admin = private_target.admin_url
    before = await _rows(admin, ROLES), await _rows(admin, MEMBERSHIPS, member="intrex_app")

    report = await migrate(private_target)

    assert report.missing == []
    assert not any(line.startswith(("created", "made", "revoked")) for line in report.done)
    assert (await _rows(admin, ROLES), await _rows(admin, MEMBERSHIPS, member="intrex_app")) == (
        before
    )
    await ensure_schema(private_target)
    database = Database(
        private_target.runtime_url, system_url=private_target.system_url, pool_size=1
    )
    try:
        tenant = await new_tenant(database, "UTC")
        async with database.tenant_uow(tenant.id) as session:
            assert await session.scalar(text("SELECT count(*) FROM tenants")) == 1
    finally:
        await database.dispose()


async def test_an_old_membership_in_the_system_role_is_revoked(
    scratch: ScratchDatabases,
) -> None:
    """A runtime role of an earlier release was a NOINHERIT member of intrex_system."""
    runtime = f"runtime_{uuid.uuid4().hex[:8]}"
    own = await scratch.new_target()
    own.runtime_url = own.runtime_url.set(username=runtime)
    await admin_execute(
        scratch.server_admin_url,
        f"CREATE ROLE {runtime} LOGIN NOINHERIT",
        f"GRANT {SYSTEM_ROLE} TO {runtime}",
        f"GRANT {OWNER_ROLE} TO {runtime}",
    )
    try:
        report = await migrate(own)

        assert report.missing == []
        assert f"revoked {SYSTEM_ROLE} from {runtime}" in report.done
        assert f"revoked {OWNER_ROLE} from {runtime}" in report.done
        assert await _rows(own.admin_url, MEMBERSHIPS, member=runtime) == []
    finally:
        await admin_execute(
            scratch.server_admin_url,
            f'DROP DATABASE IF EXISTS "{own.admin_url.database}" WITH (FORCE)',
            f"DROP OWNED BY {runtime}",
            f"DROP ROLE IF EXISTS {runtime}",
        )


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, URL]]:
    """A server of this test's own (its roles can be put back to an earlier release's) and
    its superuser URL."""
    embedded = EmbeddedPostgres(tmp_path / "data")
    server = embedded.start()
    try:
        yield embedded, server
    finally:
        embedded.stop()


async def test_an_earlier_releases_embedded_roles_are_fixed_on_start(
    embedded_server: tuple[EmbeddedPostgres, URL],
) -> None:
    """Earlier releases left intrex_system NOLOGIN with intrex_app its member, on a schema at
    head: a server named by URL is refused until `intrex migrate`, the embedded one migrates
    again on start. A password in DATABASE_SYSTEM_URL is set where the role becomes a login."""
    embedded_postgres, server = embedded_server
    url = server.set(database=EMBEDDED_DATABASE)
    by_url = local_target(url)
    by_url.system_url = by_url.system_url.set(password="system-pass-3c1f")
    assert (await migrate(by_url)).missing == []
    await admin_execute(
        server,
        f"ALTER ROLE {SYSTEM_ROLE} NOLOGIN PASSWORD NULL",
        f"GRANT {SYSTEM_ROLE} TO intrex_app",
    )

    with pytest.raises(ConfigurationError) as refused:
        await ensure_schema(by_url)
    assert refused.value.code is ErrorCode.database_unusable
    assert "not permitted to log in" in str(refused.value.params["error"])

    embedded = local_target(url, embedded_postgres)
    embedded.system_url = by_url.system_url
    await ensure_schema(embedded)

    roles = {row[0]: row[1:] for row in await _rows(url, ROLES)}
    assert roles[SYSTEM_ROLE][0] is True, "intrex_system logs in"
    [(password,)] = await _rows(
        url, text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), r=SYSTEM_ROLE
    )
    assert str(password).startswith("SCRAM-SHA-256$")
    assert await _rows(url, MEMBERSHIPS, member="intrex_app") == []
    await ensure_schema(by_url)


def _settings(database_url: str, database_system_url: str | None = None) -> Settings:
    return Settings(
        _env_file=None,
        database_url=SecretStr(database_url),
        database_system_url=SecretStr(database_system_url) if database_system_url else None,
        database_admin_url=None,
    )


def test_a_server_url_without_a_system_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as refused:
        resolve_target(_settings("postgresql://intrex_app:pw@db/intrex"))
    assert refused.value.code is ErrorCode.database_system_url_missing
    assert "DATABASE_SYSTEM_URL" in refused.value.message


@pytest.mark.parametrize(
    ("runtime", "system", "code"),
    [
        ("intrex_system", "intrex_system", ErrorCode.database_runtime_role_reserved),
        ("intrex_owner", "intrex_system", ErrorCode.database_runtime_role_reserved),
        ("intrex_app", "intrex_app", ErrorCode.database_system_url_user),
    ],
)
def test_each_url_must_log_in_as_its_own_role(runtime: str, system: str, code: ErrorCode) -> None:
    with pytest.raises(ConfigurationError) as refused:
        resolve_target(
            _settings(f"postgresql://{runtime}:pw@db/intrex", f"postgresql://{system}:pw@db/intrex")
        )
    assert refused.value.code is code


def test_the_system_url_names_the_system_login() -> None:
    target = resolve_target(
        _settings("postgresql://intrex_app:app-pw@db/intrex", "postgresql://:system-pw@db/intrex")
    )
    assert (target.runtime_url.username, target.system_url.username) == ("intrex_app", SYSTEM_ROLE)
    assert target.system_url.password == "system-pw"
    assert target.admin_url == target.runtime_url


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
    assert any("is also the migrating user" in line for line in report.missing)
