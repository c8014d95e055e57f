"""Known secrets go through every flow; none of them appears in any log line or in /metrics.

One `intrex run` (bot by long polling against the Bot API stand-in, the worker, the HTTP
server) logs JSON at DEBUG while administrators configure connectors with secrets through
the CLI, alerts are delivered (and fail, and are retried) through webhook, email and
WhatsApp peers and Telegram, and chat users link, list, acknowledge and ask for help.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
from aiosmtpd.controller import Controller

from core.crypto import generate_key
from core.db.enums import AppRole
from core.db.migrate import migrate
from core.db.session import Database
from core.tenancy.service import resolve_tenant
from tests.cli.test_notify_cli import intrex
from tests.companies import invite
from tests.conftest import ScratchDatabases
from tests.integration.workers import start, worker_env
from tests.peers import Mailbox, WebhookReceiver, free_port
from tests.telegram_stub import TelegramStub
from tests.waiting import eventually

BOT_TOKEN = "424242:BOT-SECRET-token-7f3a9c"
WEBHOOK_SECRET = "whsec-SECRET-5b2e8d1c9a7f"
SMTP_PASSWORD = "smtp-SECRET-pass-4c1d"
WHATSAPP_TOKEN = "EAAG-SECRET-wa-token-9e8f"
DB_PASSWORD = "db-SECRET-pass-6a5b"


async def test_no_secret_reaches_logs_or_metrics(scratch: ScratchDatabases, tmp_path: Path) -> None:
    target = await scratch.new_target()
    assert (await migrate(target)).missing == []
    target.runtime_url = target.runtime_url.set(password=DB_PASSWORD)
    secret_key = generate_key()
    secrets = [BOT_TOKEN, WEBHOOK_SECRET, SMTP_PASSWORD, WHATSAPP_TOKEN, DB_PASSWORD, secret_key]
    stub, receiver, mailbox = TelegramStub(), WebhookReceiver(), Mailbox()
    await stub.start()
    await receiver.start()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = worker_env(
        target,
        secret_key,
        BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_URL=stub.base_url,
        LOG_LEVEL="DEBUG",
        SCHEDULER_TICK_SECONDS="0.5",
        NOTIFY_RETRY_BASE_SECONDS="0.2",
        CONNECTOR_ERROR_THRESHOLD="1",
    )
    outputs: list[str] = []

    async def cli(*args: str) -> str:
        code, out, err = await intrex(env, *args)
        outputs.append(out + err)
        assert code in (0, 1), out + err
        return out

    await cli("tenant", "create", "Secretive")
    await cli("branch", "create", "--tenant", "Secretive", "--code", "HQ", "--name", "HQ")
    await cli(
        "connector",
        "add",
        "--tenant",
        "Secretive",
        "--type",
        "webhook",
        "--name",
        "hook",
        "--url",
        receiver.url,
        "--secret",
        WEBHOOK_SECRET,
    )
    await cli(
        "connector",
        "add",
        "--tenant",
        "Secretive",
        "--type",
        "email_smtp",
        "--name",
        "mail",
        "--host",
        "127.0.0.1",
        "--port",
        str(smtp.port),
        "--username",
        "intrex",
        "--password",
        SMTP_PASSWORD,
        "--from",
        "intrex@example.com",
    )
    await cli(
        "connector",
        "add",
        "--tenant",
        "Secretive",
        "--type",
        "whatsapp_business",
        "--name",
        "wa",
        "--phone-number-id",
        "1234567",
        "--access-token",
        WHATSAPP_TOKEN,
        "--base-url",
        f"http://127.0.0.1:{receiver.port}/v21.0",
        "--template",
        "intrex_alert",
        "--template-language",
        "en_US",
        "--template-params",
        "headline,branch",
    )
    await cli("connector", "add", "--tenant", "Secretive", "--type", "telegram_bot", "--name", "tg")
    for connector, recipient in (
        ("hook", "-"),
        ("mail", "ops@example.com"),
        ("wa", "+8801712345678"),
    ):
        await cli(
            "route",
            "add",
            "--tenant",
            "Secretive",
            "--connector",
            connector,
            "--event-type",
            "all",
            "--severity-min",
            "low",
            "--recipient",
            recipient,
        )
    await cli(
        "route",
        "add",
        "--tenant",
        "Secretive",
        "--connector",
        "tg",
        "--event-type",
        "all",
        "--severity-min",
        "low",
        "--recipient",
        "role:head_office_admin",
    )
    await cli("connector", "list", "--tenant", "Secretive", "--json")

    db = Database(target.runtime_url, system_url=target.system_url, pool_size=2)
    tenant = await resolve_tenant(db, "Secretive")
    issued = await invite(db, tenant, AppRole.head_office_admin)
    receiver.planned = [500]
    worker, status = await asyncio.to_thread(start, env, tmp_path / "run.log")
    chat = {"id": 9001, "type": "private", "first_name": "Sam"}
    sender = {"id": 9001, "is_bot": False, "first_name": "Sam"}
    try:
        for text in (
            f"/start {issued.code}",
            "/help",
            "/obligations",
            "/alerts",
            "/domains",
            "/digest",
        ):
            stub.push_update(
                {
                    "message": {
                        "message_id": 1,
                        "date": 0,
                        "chat": chat,
                        "from": sender,
                        "text": text,
                    }
                }
            )
        await cli("notify", "test", "--tenant", "Secretive")

        async def telegram_alert_sent() -> bool:
            return any("test alert" in str(c.params.get("text")) for c in stub.sent(chat_id=9001))

        assert await eventually(telegram_alert_sent, 30), (tmp_path / "run.log").read_text()[-2000:]
        base = f"http://127.0.0.1:{status['http_port']}"
        async with aiohttp.ClientSession() as http:
            for path in ("/metrics", "/healthz"):
                async with http.get(base + path) as response:
                    outputs.append(await response.text())
        await cli("notify", "dead-letters", "--json")
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)
        smtp.stop()
        await receiver.stop()
        await stub.stop()
        await db.dispose()
    log = (tmp_path / "run.log").read_text()
    outputs.append(log)
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "the worker logged nothing at DEBUG"
    assert all(json.loads(line) for line in lines if line.startswith("{"))
    assert any("delivery failed" in line for line in lines)
    assert any(stub.sent(chat_id=9001))
    everything = "\n".join(outputs)
    for secret in secrets:
        assert secret not in everything, f"a secret leaked: {secret[:6]}…"
