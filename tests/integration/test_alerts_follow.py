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

from bot.callbacks import AlertButton, ObligationButton
from core.crypto import SecretBox, generate_key
from core.db.enums import AppRole, ConnectorType, NotificationStatus
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.models import NotificationStep
from core.notify.routes import add_route
from core.tenancy.invites import TelegramIdentity, redeem_invite
from tests.companies import company, invite, obligation
from tests.integration.chat import person, press, private_chat
from tests.integration.workers import start, worker_env
from tests.telegram_stub import BOT_ID, TelegramStub
from tests.waiting import eventually

MANAGER = 9_400_001


def message(chat: int, text: str, where: dict[str, object] | None = None) -> dict[str, object]:
    """A text from `chat`'s person, in their private chat or in `where` (a group)."""
    return {
        "message": {
            "message_id": int(time.time() * 1000) % 1_000_000,
            "date": int(time.time()),
            "chat": where or private_chat(chat),
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


GROUP = -100_940_000_001
GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Dhaka staff"}


def tap(chat: int, where: dict[str, object], message_id: int, data: str) -> dict[str, object]:
    return {
        "callback_query": {
            "id": f"tap-{chat}-{message_id}-{time.time_ns()}",
            "from": person(chat),
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": where,
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Intrex"},
                "text": "alert",
            },
        }
    }


async def test_acknowledging_edits_every_copy_and_a_group_acknowledges_for_its_branch(
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
    for recipient in ("role:branch_manager", "group:DHK-01"):
        await add_route(
            db,
            acme.tenant,
            connector_name="tg",
            event_type="all",
            severity_min="low",
            recipient=recipient,
        )
    chats = [9_400_101, 9_400_102, 9_400_103]
    for number, chat in enumerate(chats):
        issued = await invite(
            db, acme.tenant, AppRole.branch_manager, ["DHK-01"], name=f"Manager {number}"
        )
        await redeem_invite(db, issued.code, TelegramIdentity(user_id=chat))
    admin = 9_400_100
    boss = await invite(db, acme.tenant, AppRole.head_office_admin, name="Ayesha")
    await redeem_invite(db, boss.code, TelegramIdentity(user_id=admin))
    stub = TelegramStub()
    await stub.start()
    env = worker_env(
        target,
        key,
        BOT_TOKEN="123456:TEST-TOKEN-not-real",
        TELEGRAM_API_URL=stub.base_url,
        DATA_DIR=str(tmp_path / "data"),
    )
    process, _ = await asyncio.to_thread(start, env, tmp_path / "run.log")
    try:
        stub.push_update(message(admin, "/linkgroup DHK-01", GROUP_CHAT))

        async def linked() -> bool:
            return any("This group gets the alerts of DHK-01" in t for t in stub.texts(GROUP))

        assert await eventually(linked, 30), stub.texts(GROUP)
        await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=-1, proof=False)

        def copies() -> dict[int, int]:
            """Where the alert landed: chat → message id, as the stand-in stored it."""
            return {
                chat_id: message_id
                for (chat_id, message_id), shown in stub.messages.items()
                # The alert's headline: the digest names the obligation too.
                if "Overdue: Fire drill" in str(shown.get("text", ""))
            }

        async def delivered() -> bool:
            return set(copies()) == {*chats, GROUP}

        assert await eventually(delivered, 60), (tmp_path / "run.log").read_text()[-3000:]
        async with db.tenant_uow(acme.tenant.id) as session:
            [event_id] = set(
                await session.scalars(
                    select(NotificationStep.notification_event_id).where(
                        NotificationStep.recipient_ref == "group:DHK-01"
                    )
                )
            )
        ack = AlertButton(action="ack", id=event_id.hex).pack()
        where = copies()
        stub.push_update(tap(9_999_999, GROUP_CHAT, where[GROUP], ack))

        async def refused() -> bool:
            return any(
                "not linked" in str(call.params.get("text", ""))
                for call in stub.sent("answerCallbackQuery")
            )

        assert await eventually(refused, 30)
        stub.push_update(tap(chats[1], GROUP_CHAT, where[GROUP], ack))

        async def everywhere() -> bool:
            edited = {
                int(call.params["chat_id"])
                for call in stub.sent("editMessageText")
                if "✅ Acknowledged by Manager 1 on" in str(call.params.get("text", ""))
            }
            return edited == {*chats, GROUP}

        assert await eventually(everywhere, 30), [c.params for c in stub.sent("editMessageText")]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)
        await stub.stop()
