"""One tenant's dead receiver delays only its own deliveries (SPEC §4).

Tenant A's webhook accepts connections and never answers, with 600 deliveries pending;
while two `intrex run --no-bot` workers grind on it, tenant B raises 20 critical alerts,
one after another: 95 % of them reach B's receiver within 5 seconds of falling due. A is
probed, not flooded: never more than its concurrency cap in flight, its pending steps
wait instead of spending their attempts, and it ends in `error`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select, text

from core.crypto import SecretBox, generate_key
from core.db.enums import ConnectorStatus, ConnectorType
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.models import Connector, NotificationStep
from tests.companies import new_tenant
from tests.integration.workers import start, worker_env
from tests.notify_load import queue_alerts

PENDING = 600
TRIALS = 20
CONNECTOR_CONCURRENCY = 8
WORKERS = 2

ALERT_SQL = text(
    """
    WITH event AS (
        INSERT INTO notification_events
            (tenant_id, event_type, severity, fingerprint, payload_json, scheduled_for, status)
        VALUES (:tenant, 'ssl_failure', 'critical', :fingerprint,
                jsonb_build_object('host', 'shop.example.com', 'status', 'timeout'),
                now(), 'queued')
        RETURNING id
    )
    INSERT INTO notification_steps
        (tenant_id, notification_event_id, connector_id, recipient_ref, level, next_attempt_at)
    SELECT :tenant, id, :connector, '-', 1, now() FROM event
    RETURNING idempotency_key
    """
)


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest rank, as the benchmarks count it."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class DeadReceiver:
    """Accepts every connection, reads what comes, and never answers."""

    def __init__(self) -> None:
        self.open = 0
        self.most_open = 0
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.connections += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook/never"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


class Arrivals:
    """Tenant B's receiver: when each idempotency key first arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def wait_for(self, key: str, seconds: float) -> float:
        """When `key` first arrived, waiting up to `seconds` for it."""
        async with asyncio.timeout(seconds):
            while key not in self.at:
                self.arrived.clear()
                await self.arrived.wait()
        return self.at[key]

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.at.setdefault(request.headers.get("Idempotency-Key", ""), time.time())
        self.arrived.set()
        return web.Response(text="ok")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_a_dead_receiver_delays_only_its_own_tenant(
    private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    db, key = private_db, generate_key()
    box = SecretBox([key])
    dead, arrivals = DeadReceiver(), Arrivals()
    dead_url, live_url = await dead.start(), await arrivals.start()
    noisy = await new_tenant(db, "UTC", name="Noisy Co")
    quiet = await new_tenant(db, "UTC", name="Quiet Co")
    spec = ConnectorSpec(type=ConnectorType.webhook, name="hook", url=dead_url)
    noisy_hook = (await add_connector(db, box, noisy, spec, allow_private=True)).connector.id
    spec = ConnectorSpec(type=ConnectorType.webhook, name="hook", url=live_url)
    quiet_hook = (await add_connector(db, box, quiet, spec, allow_private=True)).connector.id
    await queue_alerts(db, noisy, noisy_hook, PENDING)
    env = worker_env(
        private_target,
        key,
        WEBHOOK_TIMEOUT_SECONDS="10",
        NOTIFY_CONNECTOR_CONCURRENCY=str(CONNECTOR_CONCURRENCY),
        NOTIFY_POLL_SECONDS="0.2",
        SCHEDULER_TICK_SECONDS="3600",
        LOG_LEVEL="WARNING",
    )
    workers = [
        (await asyncio.to_thread(start, env, tmp_path / f"w{i}.log", "--no-bot"))[0]
        for i in range(WORKERS)
    ]
    lags: list[float] = []
    try:
        await asyncio.sleep(2)  # the workers are busy with A when B's alerts come
        for trial in range(TRIALS):
            due = time.time()
            async with db.tenant_uow(quiet.id) as session:
                step_key = await session.scalar(
                    ALERT_SQL,
                    {
                        "tenant": quiet.id,
                        "connector": quiet_hook,
                        "fingerprint": f"trial:{trial}:{uuid.uuid4().hex[:6]}",
                    },
                )
            lags.append(await arrivals.wait_for(str(step_key), 60) - due)
            await asyncio.sleep(0.5)
        async with db.tenant_uow(noisy.id) as session:
            status = await session.scalar(select(Connector.status))
            tried = await session.scalar(select(func.count()).where(NotificationStep.attempts > 0))
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            await asyncio.to_thread(worker.wait, 60)
        await dead.stop()
        await arrivals.stop()
    assert [w.returncode for w in workers] == [0, 0], (tmp_path / "w0.log").read_text()[-2000:]
    p95 = percentile(lags, 0.95)
    print(
        f"B's critical alerts: p50 {percentile(lags, 0.5):.2f} s, p95 {p95:.2f} s; "
        f"A's steps tried: {tried}"
    )
    assert p95 <= 5.0, sorted(lags)
    assert status is ConnectorStatus.error
    assert dead.most_open <= WORKERS * CONNECTOR_CONCURRENCY
    # Probed, not flooded: the steps A's workers held when it failed waited; only the first
    # round and then one probe at a time spent an attempt.
    assert tried is not None
    assert tried <= WORKERS * CONNECTOR_CONCURRENCY + 10, tried
