"""The dashboard at scale: the report bench's company (1,000 branches, 1,000,000 obligation
instances, 10,000 domains), served as `intrex run` serves it.

Loads the company of `bench.report_data` (or reuses one kept by `report_bench.py --keep`),
mounts `web.app.create_dashboard` under `/app` of an aiohttp server on a loopback port (the
runtime role, row-level security on; the start-up heap frozen as `intrex run` freezes it),
signs in with a login link as head office and as a
branch manager (10 branches), and requests the overview and the obligations page
(unfiltered, filtered by one branch, filtered to the week's window) `--runs` times each,
after 3 untimed, then fetches each one's calendar feed once (its events, time and the
process's peak RSS: the feed is streamed, so it should not rise with the company).

Server time is measured in the server: a middleware of the outer application takes
`perf_counter` around the whole request (the dashboard's own middlewares, the tenant
transaction and its commit, the template), everything but writing the finished body to
the socket. The client's time on loopback is printed beside it. Each line shows the median
and p95 against the targets (p95 under 150 ms server time, HTML under 200 KB).

Runs on the server named by INTREX_BENCH_DATABASE_URL or INTREX_TEST_DATABASE_URL (an admin
URL; a scratch database is created and dropped), else on an embedded PostgreSQL.

    .venv/bin/python bench/dashboard_bench.py [--runs 40] [--instances N] [--keep] [--reuse NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.common import percentile
from bench.report_bench import company_database
from bench.report_data import SeededCompany
from cli.runtime import freeze_startup_heap
from core.config import Settings
from core.crypto import SecretBox, generate_key
from core.dashboard.auth import issue_login_link
from core.dashboard.calendar import issue_calendar_token
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.storage import LocalStorage
from core.tenancy.scope import ActorUnits
from web.app import PREFIX, Handler, create_dashboard

WARM_UP = 3
SERVER_TARGET_MS = 150.0
HTML_TARGET_BYTES = 200 * 1024
BENCH_BOT_TOKEN = "123456:BENCH-dashboard-token"  # noqa: S105 - only keys the bench's cookies
SERVER_TIME = "X-Bench-Server-Ms"


@web.middleware
async def server_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's time in the server, handed to the client in a header of the response."""
    started = time.perf_counter()
    response = await handler(request)
    response.headers[SERVER_TIME] = f"{(time.perf_counter() - started) * 1000:.3f}"
    return response


@asynccontextmanager
async def dashboard_server(db: Database, folder: Path) -> AsyncIterator[str]:
    """The dashboard under /app of a loopback server, as `intrex run` mounts it; its base URL."""
    settings = Settings(
        _env_file=None,
        bot_token=BENCH_BOT_TOKEN,
        data_dir=folder / "data",
        http_host="127.0.0.1",
        http_port=0,
    )
    storage = LocalStorage(folder / "documents")
    app = web.Application(middlewares=[server_time])
    app.add_subapp(PREFIX, create_dashboard(db, settings, storage, SecretBox([generate_key()])))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    freeze_startup_heap()  # as `intrex run` does once it serves
    try:
        yield f"http://127.0.0.1:{port}{PREFIX}"
    finally:
        await runner.cleanup()


@dataclass
class Samples:
    server_ms: list[float]
    client_ms: list[float]
    html_bytes: int
    rows: int


OBLIGATION_ROW = re.compile(r'data-testid="obligation-row"')


class Visitor:
    """One signed-in browser: a cookie jar and the pages it times."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def sign_in(self, db: Database, seeded: SeededCompany, user_id: int) -> None:
        async with ActorUnits(db, seeded.tenant_id, user_id)() as (session, actor):
            token = await issue_login_link(session, actor)
        await self.page(f"/login?token={token}")

    async def page(self, path: str) -> tuple[str, float, float]:
        """The page's HTML, its server time and its client time (milliseconds)."""
        started = time.perf_counter()
        async with self.http.get(self.base_url + path, allow_redirects=False) as response:
            html = await response.text()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"{path} answered {response.status}: {html[:500]}")
            return html, float(response.headers[SERVER_TIME]), elapsed

    async def measure(self, path: str, runs: int) -> Samples:
        server: list[float] = []
        client: list[float] = []
        html = ""
        for number in range(WARM_UP + runs):
            html, server_ms, client_ms = await self.page(path)
            if number >= WARM_UP:
                server.append(server_ms)
                client.append(client_ms)
        return Samples(server, client, len(html.encode()), len(OBLIGATION_ROW.findall(html)))

    async def close(self) -> None:
        await self.http.close()


def filter_value(html: str, name: str, preferred: str | None = None) -> str:
    """A value the obligations page's filters form offers for `name` (its own choices, so
    the bench asks what a person could pick)."""
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    if select is None:
        raise SystemExit(f"the obligations page has no {name!r} filter")
    offered = re.findall(r'<option[^>]*value="([^"]*)"', select.group(1))
    values = [value for value in offered if value]
    if not values:
        raise SystemExit(f"the {name!r} filter offers nothing to choose")
    return preferred if preferred is not None and preferred in values else values[0]


def line(what: str, samples: Samples) -> str:
    p50, p95 = statistics.median(samples.server_ms), percentile(samples.server_ms, 0.95)
    c50, c95 = statistics.median(samples.client_ms), percentile(samples.client_ms, 0.95)
    fast = "OK" if p95 < SERVER_TARGET_MS else "MISSED"
    small = "OK" if samples.html_bytes < HTML_TARGET_BYTES else "MISSED"
    rows = f", {samples.rows} rows" if samples.rows else ""
    return (
        f"  {what}: server p50 {p50:.1f} ms, p95 {p95:.1f} ms -> {fast} "
        f"(target p95 < {SERVER_TARGET_MS:.0f} ms); client p50 {c50:.1f} ms, p95 {c95:.1f} ms; "
        f"HTML {samples.html_bytes / 1024:.1f} KB{rows} -> {small} "
        f"(target < {HTML_TARGET_BYTES // 1024} KB)"
    )


async def pages_of(visitor: Visitor, runs: int) -> list[tuple[str, Samples]]:
    """The overview and the obligations page, unfiltered and with each kind of filter."""
    listing, _, _ = await visitor.page("/obligations")
    branch = filter_value(listing, "branch")
    window = filter_value(listing, "window", preferred="week")
    pages = (
        ("overview", "/"),
        ("obligations", "/obligations"),
        ("obligations, one branch", f"/obligations?branch={branch}"),
        (f"obligations, window {window}", f"/obligations?window={window}"),
    )
    return [(what, await visitor.measure(path, runs)) for what, path in pages]


async def feed_line(visitor: Visitor, db: Database, seeded: SeededCompany, user_id: int) -> str:
    """One fetch of the person's calendar feed (every open obligation in scope): its time,
    size, events, and how far the process's peak RSS rose while it was served and read."""
    async with ActorUnits(db, seeded.tenant_id, user_id)() as (session, actor):
        token = await issue_calendar_token(session, actor)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    events = 0
    size = 0
    async with visitor.http.get(f"{visitor.base_url}/calendar/{token}.ics") as response:
        if response.status != 200:
            raise SystemExit(f"the calendar feed answered {response.status}")
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
            events += chunk.count(b"BEGIN:VEVENT")
    seconds = time.perf_counter() - started
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"  calendar feed: {events:,} events, {size / 1024 / 1024:.1f} MB in {seconds:.1f} s "
        f"({events / seconds:,.0f} events/s); peak RSS {peak_before:.0f} -> {peak_after:.0f} MB "
        "(streamed: no target in the issue)"
    )


async def run(target: DatabaseTarget, seeded: SeededCompany, runs: int) -> None:
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=2)
    try:
        with tempfile.TemporaryDirectory(prefix="intrex-dashboard-bench-") as folder:
            async with dashboard_server(db, Path(folder)) as base_url:
                for who, user_id in (
                    ("head office", seeded.admin_user_id),
                    ("a branch manager (10 branches)", seeded.manager_user_id),
                ):
                    visitor = Visitor(base_url)
                    try:
                        await visitor.sign_in(db, seeded, user_id)
                        print(f"{who}, {runs} requests of each page after {WARM_UP} untimed:")
                        for what, samples in await pages_of(visitor, runs):
                            print(line(what, samples))
                        print(await feed_line(visitor, db, seeded, user_id))
                    finally:
                        await visitor.close()
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="timed requests of each page")
    parser.add_argument(
        "--instances",
        type=int,
        default=1_000_000,
        help="obligation instances to load (the issue's scale by default; smaller for a quick run)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="a database kept by an earlier --keep")
    args = parser.parse_args()
    print(f"dashboard_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    async with company_database(args.reuse, args.keep, instances=args.instances) as (
        target,
        seeded,
    ):
        print(
            f"company: {seeded.branches:,} branches, {seeded.instances:,} instances, "
            f"{seeded.domains:,} domains, {seeded.alerts:,} alerts"
        )
        await run(target, seeded, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
