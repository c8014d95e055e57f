"""Where the database is: the runtime, system and admin URLs, from settings or an embedded
server."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

from core.config import Settings
from core.db.embedded import EMBEDDED_DATABASE, EmbeddedPostgres
from core.db.roles import DEFAULT_RUNTIME_ROLE, OWNER_ROLE, SYSTEM_ROLE
from core.errors import ConfigurationError, ErrorCode


@dataclass
class DatabaseTarget:
    """The three URLs a process needs, and the embedded server it must stop, if any.

    `runtime_url` serves requests (row-level security confines it to one tenant at a time);
    `system_url` is the system role's own login, for cross-tenant work; `admin_url` migrates.
    The runtime role cannot become the system role, so the two are separate logins.
    """

    runtime_url: URL
    admin_url: URL
    system_url: URL
    embedded: EmbeddedPostgres | None = None

    @property
    def runtime_role(self) -> str:
        return self.runtime_url.username or DEFAULT_RUNTIME_ROLE

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def asyncpg_url(raw: str) -> URL:
    """Accept `postgresql://` or `postgres://` URLs and use the asyncpg driver."""
    try:
        url = make_url(raw)
    except Exception as exc:
        raise ConfigurationError(ErrorCode.database_url_invalid, error=str(exc)) from exc
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(ErrorCode.database_url_not_postgres)
    return url.set(drivername="postgresql+asyncpg")


def local_target(admin_url: URL, embedded: EmbeddedPostgres | None = None) -> DatabaseTarget:
    """The default roles on a server that trusts local logins (the embedded server's Unix
    socket, a test or benchmark server): the runtime and system roles log in as themselves
    on `admin_url`'s database with no password."""
    return DatabaseTarget(
        runtime_url=admin_url.set(username=DEFAULT_RUNTIME_ROLE, password=None),
        admin_url=admin_url,
        system_url=admin_url.set(username=SYSTEM_ROLE, password=None),
        embedded=embedded,
    )


def resolve_target(settings: Settings) -> DatabaseTarget:
    """Use DATABASE_URL, DATABASE_SYSTEM_URL (and DATABASE_ADMIN_URL) when given, else start
    the embedded server. With DATABASE_URL the system login must be given too: it has a
    password of its own, which nothing here could guess."""
    if settings.database_url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        server_url = embedded.start()
        return local_target(server_url.set(database=EMBEDDED_DATABASE), embedded)
    runtime = asyncpg_url(settings.database_url.get_secret_value())
    if runtime.username in (OWNER_ROLE, SYSTEM_ROLE):
        raise ConfigurationError(
            ErrorCode.database_runtime_role_reserved,
            user=runtime.username,
            expected=DEFAULT_RUNTIME_ROLE,
        )
    if settings.database_system_url is None:
        raise ConfigurationError(ErrorCode.database_system_url_missing)
    system = asyncpg_url(settings.database_system_url.get_secret_value())
    if not system.username:
        system = system.set(username=SYSTEM_ROLE)
    if system.username != SYSTEM_ROLE:
        raise ConfigurationError(
            ErrorCode.database_system_url_user, user=system.username, expected=SYSTEM_ROLE
        )
    admin = (
        asyncpg_url(settings.database_admin_url.get_secret_value())
        if settings.database_admin_url is not None
        else runtime
    )
    return DatabaseTarget(runtime_url=runtime, admin_url=admin, system_url=system)
