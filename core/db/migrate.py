"""Bringing a database to the current schema: the database, the roles, Alembic, the grants.

Alembic migrations are the only way the schema changes; this module only decides who runs
them (the owner role when it can be assumed), makes the runtime and system logins
(`core.db.roles`) and grants them what they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from core.db.models import GLOBAL_TABLES, SYSTEM_TABLES, UNSCOPED_TABLES, Base
from core.db.roles import (
    OWNER_ROLE,
    SYSTEM_ROLE,
    ProvisionReport,
    can_become_owner,
    provision_roles,
    quote_ident,
    role_exists,
    runtime_grants,
)
from core.db.target import DatabaseTarget
from core.errors import ConfigurationError, ErrorCode
from core.obligations.reference import load_reference_jurisdictions

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


@dataclass
class MigrationReport:
    """What a migration run did, and what it could not do (a non-empty `missing` is a failure)."""

    from_revision: str | None = None
    to_revision: str | None = None
    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def alembic_config() -> Config:
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise ConfigurationError(ErrorCode.migrations_missing, path=str(MIGRATIONS_DIR))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(sync_conn: Connection) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


async def current_revision(conn: AsyncConnection) -> str | None:
    return await conn.run_sync(_current)


async def ensure_database(admin_url: URL) -> bool:
    """Create the target database if it is missing and the admin may; True if created."""
    engine = create_async_engine(admin_url, poolclass=NullPool)
    try:
        async with engine.connect():
            return False
    except (DBAPIError, OSError) as exc:
        if "does not exist" not in str(exc) or not admin_url.database:
            raise ConfigurationError(ErrorCode.database_unreachable, error=_reason(exc)) from exc
    finally:
        await engine.dispose()
    maintenance = create_async_engine(
        admin_url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with maintenance.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {quote_ident(admin_url.database)}"))
    except DBAPIError as exc:
        raise ConfigurationError(
            ErrorCode.database_create_failed, database=admin_url.database, error=_reason(exc)
        ) from exc
    finally:
        await maintenance.dispose()
    return True


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[-1]


def _upgrade(sync_conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    command.upgrade(config, revision)


def _downgrade(sync_conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    command.downgrade(config, revision)


async def migrate(target: DatabaseTarget, revision: str = "head") -> MigrationReport:
    """Create the database and roles where possible, upgrade, and grant the runtime roles."""
    report = MigrationReport()
    if await ensure_database(target.admin_url):
        report.done.append(f"created database {target.admin_url.database}")
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            roles: ProvisionReport = await provision_roles(
                conn, target.runtime_role, target.runtime_url.password, target.system_url.password
            )
            await conn.commit()
            report.done.extend(roles.done)
            report.missing.extend(roles.missing)
            if not await role_exists(conn, SYSTEM_ROLE):
                raise ConfigurationError(
                    ErrorCode.database_roles_missing,
                    role=SYSTEM_ROLE,
                    missing="\n".join(report.missing),
                )
            if await can_become_owner(conn):
                await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
                report.done.append(f"migrating as {OWNER_ROLE}")
            else:
                report.missing.append(
                    f"cannot act as {OWNER_ROLE}: tables will belong to the migrating user"
                )
            report.from_revision = await current_revision(conn)
            await conn.run_sync(_upgrade, revision)
            report.to_revision = await current_revision(conn)
            if report.to_revision == head_revision():
                loaded = await load_reference_jurisdictions(conn)
                if loaded:
                    report.done.append(f"loaded {loaded} reference jurisdictions")
            await conn.commit()
            if report.to_revision is not None:
                await _grant(conn, target.runtime_role, report)
            await conn.commit()
    except OperationalError as exc:
        raise ConfigurationError(ErrorCode.database_unavailable, error=_reason(exc)) from exc
    finally:
        await engine.dispose()
    return report


async def downgrade(target: DatabaseTarget, revision: str) -> None:
    """Step the schema back (used by tests and operators undoing a release)."""
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            if await can_become_owner(conn):
                await conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
            await conn.run_sync(_downgrade, revision)
            await conn.commit()
    finally:
        await engine.dispose()


async def _grant(conn: AsyncConnection, runtime_role: str, report: MigrationReport) -> None:
    if not await role_exists(conn, runtime_role):
        report.missing.append(f"runtime role {runtime_role} is missing: no privileges granted")
        return
    existing = set(
        await conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
    )
    # A schema brought to an older revision (a test of a data migration) lacks later tables.
    tables = sorted(table for table in Base.metadata.tables if table in existing)
    statements = runtime_grants(
        runtime_role,
        tenant_tables=[t for t in tables if t not in UNSCOPED_TABLES],
        global_tables=[t for t in tables if t in GLOBAL_TABLES],
        system_tables=[t for t in tables if t in SYSTEM_TABLES],
    )
    for statement in statements:
        await conn.execute(text(statement))
    report.done.append(f"granted {runtime_role} and {SYSTEM_ROLE} their privileges")


async def _revision_seen_by(url: URL) -> str | None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await current_revision(conn)
    finally:
        await engine.dispose()


async def ensure_schema(target: DatabaseTarget) -> None:
    """Refuse to run against an unmigrated database; the embedded one is migrated on demand.

    Both logins are tried: an `intrex_system` made by an older release cannot log in until
    `intrex migrate` has run, even on a schema already at head.
    """
    try:
        current = await _revision_seen_by(target.runtime_url)
        await _revision_seen_by(target.system_url)
    except (DBAPIError, OSError) as exc:
        if target.embedded is None:
            raise ConfigurationError(ErrorCode.database_unusable, error=_reason(exc)) from exc
        current = None
    if current == head_revision():
        return
    if target.embedded is not None:
        report = await migrate(target)
        if report.missing:
            raise ConfigurationError(
                ErrorCode.database_setup_incomplete, missing="\n".join(report.missing)
            )
        return
    if current is None:
        raise ConfigurationError(ErrorCode.schema_missing, head=head_revision())
    raise ConfigurationError(ErrorCode.schema_outdated, current=current, head=head_revision())
