"""Database roles: who owns the schema, who serves requests, and the named system path.

- `intrex_owner` owns every table and runs migrations; FORCE ROW LEVEL SECURITY binds it too.
- the runtime role (the user in DATABASE_URL, `intrex_app` by default) serves requests: it is
  not superuser, not owner, not BYPASSRLS, it inherits nothing and it is a member of no role
  that could lift row-level security, so no statement it runs (an injected one included) can
  `SET ROLE` its way to another tenant's rows;
- `intrex_system` is the cross-tenant path: a login of its own (DATABASE_SYSTEM_URL), which a
  policy of its own lets see every tenant. Only a process given that URL can act as it.
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
    conn: AsyncConnection,
    runtime_role: str,
    runtime_password: str | None,
    system_password: str | None = None,
) -> ProvisionReport:
    """Create the three roles where allowed, make the system role a login, take from the
    runtime role every membership that would lift row-level security, and report exactly
    what is missing. Passwords are set when a login is created (or, for the system role of
    an older release, when it first becomes one); later changes are `ALTER ROLE`'s."""
    report = ProvisionReport()
    wanted = {
        OWNER_ROLE: "NOLOGIN",
        SYSTEM_ROLE: f"LOGIN{_password_clause(system_password)}",
        runtime_role: f"LOGIN NOINHERIT{_password_clause(runtime_password)}",
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
    await _make_system_login(conn, system_password, report)

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
    if migrating_user == runtime_role:
        report.missing.append(
            f"runtime role {runtime_role} is also the migrating user, which must be able to "
            f"become {OWNER_ROLE} (who can lift row-level security): set DATABASE_ADMIN_URL "
            "to another user"
        )
    elif flags is not None:
        await _revoke_lifting_memberships(conn, runtime_role, report)
    grants = [
        f"GRANT {OWNER_ROLE} TO {quote_ident(migrating_user)}",
        f"GRANT USAGE, CREATE ON SCHEMA public TO {OWNER_ROLE}",
        f"GRANT CONNECT ON DATABASE {quote_ident(await _current_database(conn))} "
        f"TO {quote_ident(runtime_role)}, {SYSTEM_ROLE}",
    ]
    is_super = await conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    if is_super:
        grants.pop(0)
    for grant in grants:
        error = await _try(conn, grant)
        if error:
            report.missing.append(f"cannot {grant.lower()} ({error}); a DBA can run: {grant}")
    return report


async def _make_system_login(
    conn: AsyncConnection, password: str | None, report: ProvisionReport
) -> None:
    """An `intrex_system` of an older release is NOLOGIN (the runtime role switched to it):
    make it a login, with DATABASE_SYSTEM_URL's password. One that logs in already is left
    as it is, so a second `intrex migrate` changes nothing."""
    can_login = await conn.scalar(
        text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": SYSTEM_ROLE}
    )
    if can_login is None or can_login:
        return
    statement = f"ALTER ROLE {SYSTEM_ROLE} LOGIN{_password_clause(password)}"
    error = await _try(conn, statement)
    if error:
        report.missing.append(
            f"cannot make {SYSTEM_ROLE} a login role ({error}); a DBA can run: {statement}"
        )
    else:
        report.done.append(f"made {SYSTEM_ROLE} a login role")


LIFTING_MEMBERSHIPS = text(
    "SELECT granted.rolname AS role, grantor.rolname AS grantor FROM pg_auth_members AS m "
    "JOIN pg_roles AS granted ON granted.oid = m.roleid "
    "JOIN pg_roles AS member ON member.oid = m.member "
    "LEFT JOIN pg_roles AS grantor ON grantor.oid = m.grantor "
    "WHERE member.rolname = :member AND (granted.rolname IN (:owner, :system) "
    "OR granted.rolsuper OR granted.rolbypassrls) ORDER BY granted.rolname"
)
"""The runtime role's memberships that `SET ROLE` could turn into sight of every tenant: the
system role, the schema's owner (who may switch row-level security off), and any superuser
or BYPASSRLS role."""


async def _revoke_lifting_memberships(
    conn: AsyncConnection, runtime_role: str, report: ProvisionReport
) -> None:
    """Revoke them (earlier releases made the runtime role a member of `intrex_system`),
    naming the grantor, which PostgreSQL 16 and later need to find the grant."""
    parameters = {"member": runtime_role, "owner": OWNER_ROLE, "system": SYSTEM_ROLE}
    held = (await conn.execute(LIFTING_MEMBERSHIPS, parameters)).all()
    for row in held:
        revoke = f"REVOKE {quote_ident(row.role)} FROM {quote_ident(runtime_role)}"
        if row.grantor is None or await _try(
            conn, f"{revoke} GRANTED BY {quote_ident(row.grantor)}"
        ):
            await _try(conn, revoke)
    remaining = (await conn.execute(LIFTING_MEMBERSHIPS, parameters)).all()
    for role in sorted({row.role for row in held} - {row.role for row in remaining}):
        report.done.append(f"revoked {role} from {runtime_role}")
    for row in remaining:
        report.missing.append(
            f"runtime role {runtime_role} can still become {row.role}; a DBA can run: "
            f"REVOKE {quote_ident(row.role)} FROM {quote_ident(runtime_role)}"
            + (f" GRANTED BY {quote_ident(row.grantor)}" if row.grantor else "")
        )


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


APPEND_ONLY_TABLES = frozenset({"activity_logs"})
"""Tables whose rows are never changed (SPEC §7: the audit trail). Requests may read and
add; only the system role deletes (retention), and nobody updates. Migration 0012's trigger
refuses the same statements to every other role, the owner included."""


def append_only_grants(runtime: str, table: str) -> list[str]:
    """Read and add for both roles, delete for the system role alone. The REVOKEs are
    explicit, so a database migrated by an earlier release (which granted UPDATE and DELETE
    to the runtime role) loses them too; granting is idempotent, revoking as well."""
    return [
        f"GRANT SELECT, INSERT ON {table} TO {runtime}, {SYSTEM_ROLE}",
        f"GRANT DELETE ON {table} TO {SYSTEM_ROLE}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {runtime}",
        f"REVOKE UPDATE, TRUNCATE ON {table} FROM {SYSTEM_ROLE}",
    ]


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
        if table in APPEND_ONLY_TABLES:
            statements += append_only_grants(runtime, table)
            continue
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
