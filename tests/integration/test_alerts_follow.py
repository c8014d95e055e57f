"""The late linker, end to end: a real `intrex run` (bot and worker) against the loopback Bot
API stand-in and real PostgreSQL.

The overdue trade licence's alert is planned by the first scheduler run, before any branch
manager has linked; it waits for somebody instead of dying. The manager links with their
invite and gets it at once. Completing the obligation edits that delivered copy to say so
and by whom, and `/alerts` is empty.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from sqlalchemy import select

from bot.callbacks import ObligationButton
from core.crypto import SecretBox, generate_key
from core.db.enums import AppRole, ConnectorType, NotificationStatus
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.models import NotificationStep
from core.notify.routes import add_route
from tests.companies import company, invite, obligation
from tests.integration.chat import person, press, private_chat
from tests.integration.workers import start, worker_env
from tests.telegram_stub import TelegramStub
from tests.waiting import eventually

MANAGER = 9_400_001


def message(chat: int, text: str) -> dict[str, object]:
    return {
        "message": {
            "message_id": int(time.time() * 1000) % 1_000_000,
            "date": int(time.time()),
            "chat": private_chat(chat),
            "from": person(chat),
            "text": text,
        }
    }


async def test_the_manager_who_links_late_gets_the_alert_and_its_end(
    private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    key = generate_key()
    acme = await company(db, "Acme")
    await add_connector(
        db,
        SecretBox([key]),
        acme.tenant,
        ConnectorSpec(type=ConnectorType.telegram_bot, name="tg"),
        allow_private=True,
    )
    await add_route(
        db,
        acme.tenant,
        connector_name="tg",
        event_type="all",
        severity_min="low",
        recipient="role:branch_manager",
    )
    licence = await obligation(
        db, acme, acme.dhaka, "Trade licence renewal", due_in_days=-3, proof=False
    )
    issued = await invite(db, acme.tenant, AppRole.branch_manager, ["DHK-01"], name="Jamal Uddin")
    stub = TelegramStub()
    await stub.start()
    env = worker_env(
        target,
        key,
        BOT_TOKEN="123456:TEST-TOKEN-not-real",
        TELEGRAM_API_URL=stub.base_url,
        DATA_DIR=str(tmp_path / "data"),
    )
    process, status = await asyncio.to_thread(start, env, tmp_path / "run.log")
    try:
        assert "bot (polling)" in status["started"]

        async def waiting() -> bool:
            async with db.tenant_uow(acme.tenant.id) as session:
                errors = list(await session.scalars(select(NotificationStep.last_error)))
            return "nobody to reach: no linked branch_manager in DHK-01" in errors

        assert await eventually(waiting, 30), (tmp_path / "run.log").read_text()[-3000:]

        stub.push_update(message(MANAGER, f"/start {issued.code}"))

        async def alerted() -> bool:
            return any("Trade licence renewal" in text for text in stub.texts(MANAGER))

        assert await eventually(alerted, 30), stub.texts(MANAGER)
        async with db.tenant_uow(acme.tenant.id) as session:
            statuses = list(await session.scalars(select(NotificationStep.status)))
        assert NotificationStatus.dead_letter not in statuses

        press(stub, MANAGER, ObligationButton(action="complete", id=licence.hex).pack())

        async def resolved() -> bool:
            return any(
                "✅ Resolved: completed by Jamal Uddin at" in str(call.params.get("text", ""))
                for call in stub.sent("editMessageText", chat_id=MANAGER)
            )

        assert await eventually(resolved, 30), [c.params for c in stub.sent("editMessageText")]
        stub.push_update(message(MANAGER, "/alerts"))

        async def emptied() -> bool:
            return any("No unacknowledged alerts" in text for text in stub.texts(MANAGER))

        assert await eventually(emptied, 30), stub.texts(MANAGER)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)
        await stub.stop()
