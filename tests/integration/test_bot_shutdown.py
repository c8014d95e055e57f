"""SIGTERM while the bot is in the middle of an update: `intrex run` lets it finish first.

A real `intrex run` (long polling) against the loopback Bot API stand-in, whose file
downloads are slow; the signal arrives while a proof upload is being downloaded.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import select

from bot.callbacks import ObligationButton
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.obligations.models import ObligationDocument
from tests.companies import PDF
from tests.integration.chat import bot_env, fire_drill_for_an_operator, press, send_document
from tests.integration.workers import start
from tests.telegram_stub import TelegramStub
from tests.waiting import eventually

CHAT = 9_300_001


async def test_sigterm_mid_upload_lets_the_upload_land(
    private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    stub = TelegramStub(file_delay_seconds=2.0)
    await stub.start()
    try:
        acme, fire = await fire_drill_for_an_operator(db, CHAT)
        env = bot_env(target, stub, tmp_path / "data", SHUTDOWN_GRACE_SECONDS="15")
        process, status = await asyncio.to_thread(start, env, tmp_path / "bot.log", "--no-worker")
        assert "bot (polling)" in status["started"]

        press(stub, CHAT, ObligationButton(action="proof", id=fire.hex).pack())

        async def pressed() -> bool:
            return bool(stub.sent("answerCallbackQuery"))

        assert await eventually(pressed, 20)

        send_document(stub, CHAT, "proof-1", "drill.pdf", PDF)
        await asyncio.wait_for(stub.file_requested.wait(), 20)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 40)

        log = (tmp_path / "bot.log").read_text()
        assert code == 0, log[-3000:]
        assert any("Stored" in text for text in stub.texts(CHAT)), (stub.texts(CHAT), log[-3000:])
        async with db.tenant_uow(acme.tenant.id) as session:
            [document] = list(await session.scalars(select(ObligationDocument)))
        assert (document.obligation_instance_id, document.filename) == (fire, "drill.pdf")
    finally:
        await stub.stop()
