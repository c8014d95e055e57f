"""The dashboard over real HTTP: `create_dashboard` mounted under `/app` of an aiohttp server
on a loopback port, the real database underneath, a browser-like client with a cookie jar.

`Browser` is one visitor: it signs in with a login link issued as `/dashboard` issues it
(`sign_in`), follows pages, and posts forms with the CSRF token read from the page it is
on (`post`), as a browser posting the page's own form would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from core.config import Settings
from core.crypto import SecretBox, generate_key
from core.dashboard.auth import issue_login_link
from core.db.session import Database
from core.storage import LocalStorage
from core.tenancy.scope import ActorUnits
from web.app import PREFIX, create_dashboard

BOT_TOKEN = "123456:TEST-dashboard-token"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class DashboardServer:
    base_url: str
    settings: Settings
    storage: LocalStorage
    db: Database


@asynccontextmanager
async def running_dashboard(db: Database, tmp_path: Path) -> AsyncIterator[DashboardServer]:
    """The dashboard on a loopback port over `db` (the bot's tests bring their own database)."""
    settings = Settings(
        bot_token=BOT_TOKEN,
        data_dir=tmp_path / "data",
        http_host="127.0.0.1",
        http_port=0,
    )
    storage = LocalStorage(tmp_path / "documents")
    app = web.Application()
    app.add_subapp(PREFIX, create_dashboard(db, settings, storage, SecretBox([generate_key()])))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield DashboardServer(f"http://127.0.0.1:{port}", settings, storage, db)
    finally:
        await runner.cleanup()


@pytest.fixture
async def dashboard(db: Database, tmp_path: Path) -> AsyncIterator[DashboardServer]:
    async with running_dashboard(db, tmp_path) as server:
        yield server


class Browser:
    """One visitor with its own cookies; `last` is the text of the last page it read."""

    def __init__(self, server: DashboardServer, language: str = "en") -> None:
        self.server = server
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"Accept-Language": language},
        )
        self.last = ""

    def url(self, path: str) -> str:
        return self.server.base_url + PREFIX + path

    async def get(self, path: str, *, status: int = 200) -> str:
        async with self.http.get(self.url(path), allow_redirects=True) as response:
            self.last = await response.text()
            assert response.status == status, (path, response.status, self.last[:2000])
            return self.last

    async def get_bytes(self, path: str) -> tuple[bytes, aiohttp.ClientResponse]:
        async with self.http.get(self.url(path)) as response:
            return await response.read(), response

    def csrf(self) -> str:
        found = CSRF.search(self.last)
        assert found is not None, "the page has no form with a CSRF token"
        return found.group(1)

    async def post(
        self, path: str, fields: dict[str, str] | None = None, *, status: int = 200
    ) -> str:
        """Post a form of the current page (its CSRF token added), following the redirect."""
        data = {"csrf_token": self.csrf(), **(fields or {})}
        async with self.http.post(self.url(path), data=data) as response:
            self.last = await response.text()
            assert response.status == status, (path, response.status, self.last[:2000])
            return self.last

    async def sign_in(self, units: ActorUnits) -> str:
        """Sign in with a fresh login link, as `/dashboard` gives one; lands on the overview."""
        async with units() as (session, actor):
            token = await issue_login_link(session, actor)
        await self.get(f"/login?token={token}")
        return await self.get("/")

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browser(dashboard: DashboardServer) -> AsyncIterator[Browser]:
    visitor = Browser(dashboard)
    yield visitor
    await visitor.close()
