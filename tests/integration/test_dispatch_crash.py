"""Two real worker processes deliver 5,000 alerts; one is SIGKILLed mid-run.

Afterwards every alert was delivered, and the only repeats the receiver saw (counted by
idempotency key) are sends the killed worker made without living to record them: at most
one batch.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import func, select

from core.crypto import SecretBox, generate_key
from core.db.enums import NotificationStatus
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.models import NotificationDelivery, NotificationStep
from tests.environment import INTREX, intrex_env
from tests.notify_load import queue_alerts, webhook_tenant
from tests.peers import WebhookReceiver
from tests.waiting import eventually

EVENTS = 5000
BATCH = 100


async def unsent_steps(db: Database, tenant_id: uuid.UUID) -> int:
    """Steps not yet recorded as sent: the dead worker's last batch until its lease runs out."""
    async with db.tenant_uow(tenant_id) as session:
        count = await session.scalar(
            select(func.count()).where(NotificationStep.status != NotificationStatus.sent)
        )
    return int(count or 0)


async def none_unsent(db: Database, tenant_id: uuid.UUID) -> bool:
    return await unsent_steps(db, tenant_id) == 0


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*INTREX, "run", "--no-bot", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


async def test_sigkilled_worker_loses_nothing(
    private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    key = generate_key()
    receiver = WebhookReceiver()
    await receiver.start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        tenant, connector_id = await webhook_tenant(db, SecretBox([key]), receiver.url)
        await queue_alerts(db, tenant, connector_id, EVENTS)
        env = intrex_env(
            target,
            secret_key=key,
            ALLOW_PRIVATE_TARGETS="true",
            NOTIFY_BATCH_SIZE=str(BATCH),
            NOTIFY_LEASE_SECONDS="4",
            NOTIFY_POLL_SECONDS="0.2",
            SCHEDULER_TICK_SECONDS="3600",
            HTTP_PORT="0",
            LOG_LEVEL="WARNING",
        )
        workers = [start_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]

        started = await receiver.wait_for(lambda: len(receiver.requests) >= EVENTS // 4, 60)
        assert started, (tmp_path / "worker0.log").read_text()
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        killed_at = len(receiver.requests)

        await receiver.wait_for(lambda: len(receiver.by_key()) >= EVENTS, 120)
        await eventually(lambda: none_unsent(db, tenant.id), 120)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        await receiver.stop()

    keys = receiver.by_key()
    repeats = sum(count - 1 for count in keys.values())
    assert killed_at < EVENTS, "the kill came after the work was done"
    assert len(keys) == EVENTS, (tmp_path / "worker1.log").read_text()[-3000:]
    assert repeats <= BATCH, repeats
    assert workers[1].returncode == 0, (tmp_path / "worker1.log").read_text()[-3000:]
    unsent = await unsent_steps(db, tenant.id)
    async with db.tenant_uow(tenant.id) as session:
        recorded = await session.scalar(
            select(func.count()).where(
                NotificationDelivery.delivery_status == NotificationStatus.sent
            )
        )
    assert unsent == 0
    assert recorded == EVENTS
