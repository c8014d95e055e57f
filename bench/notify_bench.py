"""Notification dispatch throughput: 10,000 webhook alerts through 1 and then 2 workers.

Each run starts real `intrex run --no-bot` worker processes against one database, queues
N alerts routed to a loopback aiohttp receiver, and waits until every alert has arrived.
Prints deliveries per second, queue-to-delivery latency p50/p95 (event creation to arrival
at the receiver), lost and duplicate deliveries (counted by idempotency key), and, measured
in the same run on the same database, the commit rate of a bare single-row UPDATE loop as
the reference. Target: 1,000 deliveries/s or more with 2 workers, none lost, none doubled.

    .venv/bin/python bench/notify_bench.py [--events 10000] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.common import percentile, scratch_database, server
from core.crypto import SecretBox, generate_key
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.models import NotificationEvent, NotificationStep
from tests.notify_load import queue_alerts, webhook_tenant

INTREX = str(Path(sys.executable).with_name("intrex"))


class Receiver:
    """Counts arrivals by idempotency key with their arrival time."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self.done = asyncio.Event()
        self.expected = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        key = request.headers.get("Idempotency-Key", "")
        self.counts[key] += 1
        self.arrivals.setdefault(key, time.time())
        if len(self.arrivals) >= self.expected:
            self.done.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def bare_update_rate(target: DatabaseTarget, count: int = 2000) -> float:
    """Commits per second of `UPDATE … WHERE id = 1`, one transaction each."""
    engine = create_async_engine(target.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text("CREATE TABLE IF NOT EXISTS bench_counter (id int primary key, n int)")
            )
            await conn.execute(
                text("INSERT INTO bench_counter VALUES (1, 0) ON CONFLICT DO NOTHING")
            )
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            started = time.perf_counter()
            for _ in range(count):
                await driver.execute("UPDATE bench_counter SET n = n + 1 WHERE id = 1")
            elapsed = time.perf_counter() - started
            await conn.execute(text("DROP TABLE bench_counter"))
    finally:
        await engine.dispose()
    return count / elapsed


async def one_run(target: DatabaseTarget, events: int, workers: int) -> dict[str, float]:
    key = generate_key()
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=2)
    receiver = Receiver()
    await receiver.start()
    receiver.expected = events
    tenant, connector = await webhook_tenant(
        db, SecretBox([key]), f"http://127.0.0.1:{receiver.port}/hook"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env |= {
        "DATABASE_URL": target.runtime_url.render_as_string(hide_password=False),
        "DATABASE_SYSTEM_URL": target.system_url.render_as_string(hide_password=False),
        "SECRET_KEYS": key,
        "ALLOW_PRIVATE_TARGETS": "true",
        "NOTIFY_POLL_SECONDS": "0.05",
        "SCHEDULER_TICK_SECONDS": "3600",
        "HTTP_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    processes = [
        await asyncio.create_subprocess_exec(
            INTREX, "run", "--no-bot", "--json", env=env, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(workers)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            await process.stdout.readline()
        started = time.time()
        await queue_alerts(db, tenant, connector, events)
        await asyncio.wait_for(receiver.done.wait(), timeout=600)
        finished = max(receiver.arrivals.values())
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=60)
        await receiver.stop()
    async with db.tenant_uow(tenant.id) as session:
        created = dict(
            (
                await session.execute(
                    select(NotificationStep.idempotency_key, NotificationEvent.created_at).join(
                        NotificationEvent,
                        NotificationEvent.id == NotificationStep.notification_event_id,
                    )
                )
            ).all()
        )
    await db.dispose()
    latencies = [
        receiver.arrivals[str(step_key)] - queued.timestamp()
        for step_key, queued in created.items()
        if str(step_key) in receiver.arrivals
    ]
    return {
        "rate": events / (finished - started),
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "lost": float(events - len(receiver.arrivals)),
        "duplicates": float(sum(n - 1 for n in receiver.counts.values())),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    print(f"notify_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    async with server() as server_url, scratch_database(server_url) as target:
        reference = await bare_update_rate(target)
        print(f"reference: bare single-row UPDATE loop       {reference:8.0f} commits/s")
        for workers in worker_counts:
            result = await one_run(target, args.events, workers)
            print(
                f"{workers} worker(s), {args.events} alerts: {result['rate']:8.0f} deliveries/s "
                f"({result['rate'] / reference:.2f}x the UPDATE loop), "
                f"queue-to-delivery p50 {result['p50'] * 1000:.0f} ms, "
                f"p95 {result['p95'] * 1000:.0f} ms, lost {result['lost']:.0f}, "
                f"duplicates {result['duplicates']:.0f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
