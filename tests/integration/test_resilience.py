"""A worker survives losing its database connections, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

from sqlalchemy import func, select, text

from core.crypto import SecretBox, generate_key
from core.db.enums import NotificationStatus
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.models import NotificationStep
from tests.conftest import ScratchDatabases, admin_execute
from tests.integration.workers import start, worker_env
from tests.notify_load import queue_alerts, webhook_tenant
from tests.peers import WebhookReceiver
from tests.waiting import eventually


async def step_count(db: Database, tenant_id: uuid.UUID, status: NotificationStatus) -> int:
    async with db.tenant_uow(tenant_id) as session:
        found = await session.scalar(select(func.count()).where(NotificationStep.status == status))
    return int(found or 0)


async def test_terminated_backends_do_not_stop_the_next_round(
    scratch: ScratchDatabases, private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    key = generate_key()
    receiver = WebhookReceiver()
    await receiver.start()
    tenant, connector = await webhook_tenant(db, SecretBox([key]), receiver.url)
    env = worker_env(target, key, SCHEDULER_TICK_SECONDS="0.5")
    worker, _ = await asyncio.to_thread(start, env, tmp_path / "worker.log", "--no-bot")
    try:
        await queue_alerts(db, tenant, connector, 20)
        assert await receiver.wait_for(lambda: len(receiver.by_key()) >= 20, 30)

        database = target.runtime_url.database
        await admin_execute(
            scratch.server_admin_url.set(database=database),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND usename IN ('intrex_app', 'intrex_system') "
            "AND pid <> pg_backend_pid()",
        )
        await queue_alerts(db, tenant, connector, 20)

        assert await receiver.wait_for(lambda: len(receiver.by_key()) >= 40, 30), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        await receiver.stop()
    assert worker.returncode == 0


async def test_sigterm_during_dispatch_leaves_nothing_stuck_or_lost(
    scratch: ScratchDatabases, private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    key = generate_key()
    receiver = WebhookReceiver(delay_seconds=0.2)
    await receiver.start()
    tenant, connector = await webhook_tenant(db, SecretBox([key]), receiver.url)
    await queue_alerts(db, tenant, connector, 600)
    env = worker_env(
        target,
        key,
        NOTIFY_BATCH_SIZE="100",
        NOTIFY_CONCURRENCY="20",
        NOTIFY_LEASE_SECONDS="300",
        SHUTDOWN_GRACE_SECONDS="0.5",
        SCHEDULER_TICK_SECONDS="3600",
    )
    try:
        first, _ = await asyncio.to_thread(start, env, tmp_path / "first.log", "--no-bot")
        assert await receiver.wait_for(lambda: len(receiver.requests) >= 30, 30)
        first.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(first.wait, 30)
        assert exit_code == 0, (tmp_path / "first.log").read_text()[-3000:]

        stuck = await step_count(db, tenant.id, NotificationStatus.processing)
        assert stuck == 0, "claims left behind although the lease is 300 s"
        assert "released claims" in (tmp_path / "first.log").read_text()

        receiver.delay_seconds = 0
        second, _ = await asyncio.to_thread(start, env, tmp_path / "second.log", "--no-bot")
        try:

            async def all_sent() -> bool:
                return await step_count(db, tenant.id, NotificationStatus.sent) == 600

            assert await eventually(all_sent, 60)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.to_thread(second.wait, 30)
    finally:
        await receiver.stop()
    assert len(receiver.by_key()) == 600
    async with db.tenant_uow(tenant.id) as session:
        held = await session.scalar(
            text("SELECT count(*) FROM notification_steps WHERE claimed_by IS NOT NULL")
        )
    assert held == 0
