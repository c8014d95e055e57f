"""What a person does in a chat, pushed as updates into the Bot API stand-in's queue (for a
real `intrex run` polling it)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from core.crypto import generate_key
from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.tenancy.invites import TelegramIdentity, redeem_invite
from tests.companies import Company, company, invite, obligation
from tests.integration.workers import worker_env
from tests.telegram_stub import BOT_ID, TelegramStub


def person(chat: int) -> dict[str, object]:
    return {"id": chat, "is_bot": False, "first_name": "Opu"}


def private_chat(chat: int) -> dict[str, object]:
    return {"id": chat, "type": "private", "first_name": "Opu"}


def press(stub: TelegramStub, chat: int, data: str, press_id: str = "press-1") -> None:
    """A button press on a message the bot sent to `chat`."""
    stub.push_update(
        {
            "callback_query": {
                "id": press_id,
                "from": person(chat),
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "chat": private_chat(chat),
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Intrex"},
                    "text": "Open obligations",
                },
            }
        }
    )


def send_document(stub: TelegramStub, chat: int, file_id: str, name: str, content: bytes) -> None:
    """A PDF sent to the bot: the stand-in holds its bytes under `file_id`."""
    stub.add_file(file_id, content)
    stub.push_update(
        {
            "message": {
                "message_id": 2,
                "date": int(time.time()),
                "chat": private_chat(chat),
                "from": person(chat),
                "document": {
                    "file_id": file_id,
                    "file_unique_id": f"u-{file_id}",
                    "file_name": name,
                    "mime_type": "application/pdf",
                    "file_size": len(content),
                },
            }
        }
    )


async def fire_drill_for_an_operator(db: Database, chat: int) -> tuple[Company, uuid.UUID]:
    """Acme, with an operator of DHK-01 linked to `chat`, and a fire drill needing proof."""
    acme = await company(db, "Acme")
    issued = await invite(db, acme.tenant, AppRole.operator, ["DHK-01"])
    await redeem_invite(db, issued.code, TelegramIdentity(user_id=chat, full_name="Opu"))
    fire = await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=0, proof=True)
    return acme, fire


def bot_env(
    target: DatabaseTarget, stub: TelegramStub, data_dir: Path, **extra: str
) -> dict[str, str]:
    """A bot process's environment, pointed at the stand-in."""
    return worker_env(
        target,
        generate_key(),
        BOT_TOKEN="123456:TEST-TOKEN-not-real",
        TELEGRAM_API_URL=stub.base_url,
        DATA_DIR=str(data_dir),
        **extra,
    )
