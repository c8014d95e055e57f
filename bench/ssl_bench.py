"""Certificate-check throughput: the scheduler's round against one loopback TLS server.

    .venv/bin/python bench/ssl_bench.py [--names N] [--concurrency C] [--openssl-seconds S]

It starts one TLS server on 127.0.0.1 (its own process) with a wildcard certificate from
a throwaway CA, registers N distinct names under that wildcard in a fresh database, and
runs `run_ssl_round`, the scheduler job itself: claiming in batches, checking with
`SSL_CONCURRENCY`, writing results and domain states. Names resolve through an injected
table, so nothing leaves loopback. It then prints checks per second, p50/p95 check latency
and the peak RSS of this process, next to the rate of full handshakes `openssl s_time -new`
reaches against the same server. The database is INTREX_TEST_DATABASE_URL (an admin URL)
when set, else an embedded PostgreSQL in a temporary folder.

Targets (issue 3): >= 400 checks/s, >= 60% of the openssl rate, < 200 MB RSS at 10,000 names.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from core.db.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUFFIX = "bench.intrex.test"
TARGET_RATE = 400
TARGET_RATIO = 0.60
TARGET_RSS_MB = 200


class _Quiet(asyncio.Protocol):
    """Holds each connection after the handshake until the client goes."""


async def serve(cert_file: str, key_file: str) -> None:
    """The benchmark's TLS server: report the port on stdout, then serve until killed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: None)
    server = await loop.create_server(_Quiet, "127.0.0.1", 0, ssl=context, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


def start_server(workdir: Path) -> tuple[subprocess.Popen[str], int, Path]:
    from tests.core.ssl.pki import Pki

    pki = Pki(workdir)
    leaf = pki.leaf(f"*.{SUFFIX}", days_valid=365)
    cert_file, key_file = workdir / "wildcard.pem", workdir / "wildcard.key"
    cert_file.write_bytes(leaf.pem + pki.intermediate.pem)
    key_file.write_bytes(leaf.key_pem)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(cert_file), str(key_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    return server, port, pki.ca_file


def openssl_rate(port: int, seconds: int) -> tuple[float, str]:
    """Full handshakes per wall-clock second of `openssl s_time -new` (one at a time)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return 0.0, "openssl not found (apt-get install openssl)"
    started = time.perf_counter()
    done = subprocess.run(
        [openssl, "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    found = re.search(r"(\d+) connections in [\d.]+s", done.stdout)
    if found is None:
        return 0.0, (done.stdout + done.stderr).strip()[-300:]
    return int(found.group(1)) / elapsed, f"{found.group(1)} handshakes in {elapsed:.2f} s"


async def run_round(
    names: int, port: int, ca_file: Path, workdir: Path, concurrency: int | None
) -> dict[str, float]:
    from sqlalchemy import insert

    from core.config import Settings
    from core.db.migrate import migrate
    from core.db.session import Database
    from core.ssl.checker import CheckOutcome, StaticResolver
    from core.ssl.models import Domain
    from core.ssl.scheduler import run_ssl_round
    from core.tenancy.service import create_tenant
    from tests.conftest import ScratchDatabases

    admin_url = await _admin_url(workdir)
    scratch = ScratchDatabases(admin_url)
    try:
        target = await scratch.new_target()
        await migrate(target)
        db = Database(target.runtime_url, system_url=target.system_url, pool_size=4)
        try:
            tenant = await create_tenant(db, f"bench-{uuid.uuid4().hex[:6]}")
            async with db.tenant_uow(tenant.id) as session:
                for start in range(0, names, 5000):
                    rows = [
                        {"tenant_id": tenant.id, "hostname": f"n{n}.{SUFFIX}", "port": port}
                        for n in range(start, min(start + 5000, names))
                    ]
                    await session.execute(insert(Domain), rows)
            settings = Settings(ssl_ca_file=ca_file, allow_private_targets=True)
            if concurrency is not None:
                settings.ssl_concurrency = concurrency
            latencies: list[float] = []

            def observe(outcome: CheckOutcome) -> None:
                latencies.append(outcome.elapsed_seconds)

            started = time.perf_counter()
            report = await run_ssl_round(
                db,
                settings,
                resolver=StaticResolver({f"*.{SUFFIX}": ["127.0.0.1"]}),
                on_outcome=observe,
            )
            elapsed = time.perf_counter() - started
        finally:
            await db.dispose()
    finally:
        await scratch.drop_all()
    if report.recorded != names or report.statuses["ok"] != names:
        raise SystemExit(f"round did not check every name ok: {report}")
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "seconds": elapsed,
        "rate": report.recorded / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "concurrency": settings.ssl_concurrency,
    }


_embedded: list[EmbeddedPostgres] = []


async def _admin_url(workdir: Path) -> URL:
    """INTREX_TEST_DATABASE_URL when set, else a new embedded server (stopped by main)."""
    from core.db.embedded import EmbeddedPostgres
    from core.db.target import asyncpg_url

    configured = os.environ.get("INTREX_TEST_DATABASE_URL")
    if configured:
        return asyncpg_url(configured)
    embedded = EmbeddedPostgres(workdir / "embedded")
    _embedded.append(embedded)
    return embedded.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=2000, help="distinct names to check")
    parser.add_argument("--openssl-seconds", type=int, default=5)
    parser.add_argument(
        "--concurrency", type=int, default=None, help="SSL_CONCURRENCY (default: settings)"
    )
    parser.add_argument("--serve", nargs=2, metavar=("CERT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(*args.serve))
        return

    workdir = Path(tempfile.mkdtemp(prefix="intrex-ssl-bench-"))
    server, port, ca_file = start_server(workdir)
    try:
        figures = asyncio.run(run_round(args.names, port, ca_file, workdir, args.concurrency))
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rate, how = openssl_rate(port, args.openssl_seconds)
    finally:
        server.kill()
        server.wait()
        for embedded in _embedded:
            embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    ratio = figures["rate"] / rate if rate else 0.0

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"names checked            {args.names} (one round of run_ssl_round, all ok)")
    print(f"concurrency              {figures['concurrency']:g}")
    print(f"round time               {figures['seconds']:.2f} s")
    print(
        f"checks/second            {figures['rate']:.0f}   "
        f"(target >= {TARGET_RATE}: {verdict(figures['rate'] >= TARGET_RATE)})"
    )
    print(f"check latency p50        {figures['p50_ms']:.1f} ms")
    print(f"check latency p95        {figures['p95_ms']:.1f} ms")
    print(
        f"peak RSS                 {peak_rss_mb:.0f} MB   "
        f"(target < {TARGET_RSS_MB} MB at 10,000 names"
        + (f": {verdict(peak_rss_mb < TARGET_RSS_MB)})" if args.names >= 10_000 else ")")
    )
    print(f"openssl s_time -new      {rate:.0f} handshakes/s   ({how})")
    print(
        f"ratio to openssl         {ratio:.0%}   "
        f"(target >= {TARGET_RATIO:.0%}: {verdict(ratio >= TARGET_RATIO)})"
    )


if __name__ == "__main__":
    main()
