"""Where the database is: the runtime and admin URLs, from settings or an embedded server."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

from core.config import Settings
from core.db.embedded import EMBEDDED_DATABASE, EmbeddedPostgres
from core.db.roles import DEFAULT_RUNTIME_ROLE
from core.errors import ConfigurationError, ErrorCode


@dataclass
class DatabaseTarget:
    """The two URLs a process needs, and the embedded server it must stop, if any."""

    runtime_url: URL
    admin_url: URL
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


def resolve_target(settings: Settings) -> DatabaseTarget:
    """Use DATABASE_URL (and DATABASE_ADMIN_URL) when given, else start the embedded server."""
    if settings.database_url is not None:
        runtime = asyncpg_url(settings.database_url.get_secret_value())
        admin = (
            asyncpg_url(settings.database_admin_url.get_secret_value())
            if settings.database_admin_url is not None
            else runtime
        )
        return DatabaseTarget(runtime_url=runtime, admin_url=admin)
    embedded = EmbeddedPostgres(settings.data_dir)
    server_url = embedded.start()
    admin = server_url.set(database=EMBEDDED_DATABASE)
    runtime = admin.set(username=DEFAULT_RUNTIME_ROLE, password=None)
    return DatabaseTarget(runtime_url=runtime, admin_url=admin, embedded=embedded)
