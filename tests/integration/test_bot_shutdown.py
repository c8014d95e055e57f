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
from core.crypto import generate_key
from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.obligations.models import ObligationDocument
from core.tenancy.service import TelegramIdentity, create_invite, redeem_invite
from tests.companies import PDF, company, obligation
from tests.integration.chat import press, send_document
from tests.integration.workers import start, worker_env
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
        acme = await company(db, "Acme")
        issued = await create_invite(
            db, acme.tenant, role=AppRole.operator, branch_code=acme.dhaka.code
        )
        await redeem_invite(db, issued.code, TelegramIdentity(user_id=CHAT, full_name="Opu"))
        fire = await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=0, proof=True)

        env = worker_env(
            target,
            generate_key(),
            BOT_TOKEN="123456:TEST-TOKEN-not-real",
            TELEGRAM_API_URL=stub.base_url,
            DATA_DIR=str(tmp_path / "data"),
            SHUTDOWN_GRACE_SECONDS="15",
        )
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
