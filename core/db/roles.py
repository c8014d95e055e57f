"""Database roles: who owns the schema, who serves requests, and the named system path.

- `intrex_owner` owns every table and runs migrations; FORCE ROW LEVEL SECURITY binds it too.
- the runtime role (the user in DATABASE_URL, `intrex_app` by default) serves requests: it is
  not superuser, not owner, not BYPASSRLS, and it inherits nothing;
- `intrex_system` is entered with `SET LOCAL ROLE` for cross-tenant work; a policy of its own
  lets it see every tenant. The runtime role is a NOINHERIT member, so only an explicit
  switch grants that sight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

OWNER_ROLE = "intrex_owner"
SYSTEM_ROLE = "intrex_system"
DEFAULT_RUNTIME_ROLE = "intrex_app"


@dataclass
class ProvisionReport:
    """What `intrex migrate` did to roles and privileges, and what it could not do."""

    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def role_exists(conn: AsyncConnection, role: str) -> bool:
    found = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    return found is not None


async def _try(conn: AsyncConnection, sql: str) -> str | None:
    """Run one statement in a savepoint; return the server's refusal instead of raising."""
    try:
        async with conn.begin_nested():
            await conn.execute(text(sql))
    except DBAPIError as exc:
        return str(exc.orig).splitlines()[-1] if exc.orig else str(exc)
    return None


async def provision_roles(
    conn: AsyncConnection, runtime_role: str, runtime_password: str | None
) -> ProvisionReport:
    """Create the three roles and memberships where allowed; report exactly what is missing."""
    report = ProvisionReport()
    runtime_login = f"LOGIN NOINHERIT{_password_clause(runtime_password)}"
    wanted = {
        OWNER_ROLE: "NOLOGIN",
        SYSTEM_ROLE: "NOLOGIN",
        runtime_role: runtime_login,
    }
    for role, options in wanted.items():
        statement = f"CREATE ROLE {quote_ident(role)} {options}"
        if await role_exists(conn, role):
            report.done.append(f"role {role} exists")
            continue
        error = await _try(conn, statement)
        if error:
            report.missing.append(
                f"cannot create role {role} ({error}); a DBA can run: {statement}"
            )
        else:
            report.done.append(f"created role {role}")

    flags = (
        await conn.execute(
            text("SELECT rolsuper, rolbypassrls, rolinherit FROM pg_roles WHERE rolname = :r"),
            {"r": runtime_role},
        )
    ).first()
    if flags is not None:
        if flags.rolsuper or flags.rolbypassrls:
            report.missing.append(
                f"runtime role {runtime_role} is superuser or BYPASSRLS, so row-level security "
                "would not protect tenants: point DATABASE_URL at an ordinary role "
                f"(default {DEFAULT_RUNTIME_ROLE}) and DATABASE_ADMIN_URL at the migrating user"
            )
        if flags.rolinherit:
            error = await _try(conn, f"ALTER ROLE {quote_ident(runtime_role)} NOINHERIT")
            if error:
                report.missing.append(f"cannot make {runtime_role} NOINHERIT ({error})")

    migrating_user = str(await conn.scalar(text("SELECT current_user")))
    grants = [
        f"GRANT {OWNER_ROLE} TO {quote_ident(migrating_user)}",
        f"GRANT {SYSTEM_ROLE} TO {quote_ident(runtime_role)}",
        f"GRANT USAGE, CREATE ON SCHEMA public TO {OWNER_ROLE}",
        f"GRANT CONNECT ON DATABASE {quote_ident(await _current_database(conn))} "
        f"TO {quote_ident(runtime_role)}",
    ]
    is_super = await conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    if is_super:
        grants.pop(0)
    for grant in grants:
        error = await _try(conn, grant)
        if error:
            report.missing.append(f"cannot {grant.lower()} ({error}); a DBA can run: {grant}")
    return report


async def _current_database(conn: AsyncConnection) -> str:
    name = await conn.scalar(text("SELECT current_database()"))
    return str(name)


def _password_clause(password: str | None) -> str:
    return f" PASSWORD {quote_literal(password)}" if password else ""


async def can_become_owner(conn: AsyncConnection) -> bool:
    """Whether the migrating user may `SET ROLE intrex_owner` (so tables belong to the owner)."""
    if not await role_exists(conn, OWNER_ROLE):
        return False
    found = await conn.scalar(
        text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": OWNER_ROLE}
    )
    return bool(found)


def runtime_grants(
    runtime_role: str,
    tenant_tables: list[str],
    global_tables: list[str],
    system_tables: list[str] | None = None,
) -> list[str]:
    """The privileges the runtime and system roles need on a migrated schema."""
    runtime = quote_ident(runtime_role)
    statements = [f"GRANT USAGE ON SCHEMA public TO {runtime}, {SYSTEM_ROLE}"]
    for table in tenant_tables:
        statements.append(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {runtime}, {SYSTEM_ROLE}"
        )
    for table in global_tables:
        statements.append(f"GRANT SELECT ON {table} TO {runtime}")
        statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
    for table in system_tables or []:
        statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
    statements.append(f"GRANT SELECT ON alembic_version TO {runtime}, {SYSTEM_ROLE}")
    statements.append(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {runtime}, {SYSTEM_ROLE}"
    )
    return statements
