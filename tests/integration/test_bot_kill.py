"""SIGKILL while a proof is downloading: the file is not lost.

A real `intrex run` (long polling) against the loopback Bot API stand-in, whose download
is slow; the process is killed mid-download, so nothing after the download runs. The
pending file was recorded when the "waiting for proof" state was consumed; a new
`intrex run` finds it (its lease over), downloads and stores it, and tells the person.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import func, select

from bot.callbacks import ObligationButton
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.obligations.models import ObligationDocument, PendingUpload
from tests.companies import PDF
from tests.integration.chat import bot_env, fire_drill_for_an_operator, press, send_document
from tests.integration.workers import start
from tests.telegram_stub import TelegramStub
from tests.waiting import eventually

CHAT = 9_300_002


async def test_sigkill_mid_download_loses_nothing(
    private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    stub = TelegramStub(file_delay_seconds=8.0)
    await stub.start()
    processes = []
    try:
        acme, fire = await fire_drill_for_an_operator(db, CHAT)
        env = bot_env(target, stub, tmp_path / "data", UPLOAD_RESUME_SECONDS="2")
        process, status = await asyncio.to_thread(start, env, tmp_path / "first.log", "--no-worker")
        processes.append(process)
        assert "bot (polling)" in status["started"]
        press(stub, CHAT, ObligationButton(action="proof", id=fire.hex).pack())

        async def pressed() -> bool:
            return bool(stub.sent("answerCallbackQuery"))

        assert await eventually(pressed, 20)
        send_document(stub, CHAT, "proof-1", "drill.pdf", PDF)
        await asyncio.wait_for(stub.file_requested.wait(), 20)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 20)
        async with db.tenant_uow(acme.tenant.id) as session:
            assert await session.scalar(select(func.count()).select_from(ObligationDocument)) == 0
            [pending] = list(await session.scalars(select(PendingUpload)))
        assert (pending.file_id, pending.filename) == ("proof-1", "drill.pdf")

        stub.file_delay_seconds = 0
        again, status = await asyncio.to_thread(start, env, tmp_path / "second.log", "--no-worker")
        processes.append(again)

        async def stored() -> bool:
            return any("Stored “drill.pdf”" in text for text in stub.texts(CHAT))

        log = tmp_path / "second.log"
        assert await eventually(stored, 30), (stub.texts(CHAT), log.read_text()[-3000:])
        async with db.tenant_uow(acme.tenant.id) as session:
            [document] = list(await session.scalars(select(ObligationDocument)))
            assert await session.scalar(select(func.count()).select_from(PendingUpload)) == 0
        assert (document.obligation_instance_id, document.filename) == (fire, "drill.pdf")
    finally:
        for running in processes:
            if running.poll() is None:
                running.send_signal(signal.SIGTERM)
                await asyncio.to_thread(running.wait, 30)
        await stub.stop()
