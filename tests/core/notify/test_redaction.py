"""Nothing a receiver answers is stored or logged with the request's secrets in it (SPEC §4).

The receivers here echo what they were sent, as real ones do (Express's `Cannot POST
<path>`, a gateway's `401 invalid token Bearer …`, a Bot API proxy quoting the method's
URL); every secret planted in a connector is then looked for in every text column of the
database, the JSON log, the metrics and the command line's answers, and found nowhere.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import structlog
from aiohttp import web
from prometheus_client import generate_latest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.app import create_bot
from bot.telegram import BotTelegramSender
from core.config import Settings
from core.crypto import SecretBox, generate_key
from core.db.enums import AppRole, ConnectorType, NotificationStatus
from core.db.target import DatabaseTarget
from core.logging import configure_logging
from core.metrics import REGISTRY
from core.notify.channels.base import DeliveryError
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.redaction import MASK, Redactor, redact, redact_known, redact_shapes, remember
from core.notify.wiring import build_channels, close_channels
from tests.companies import person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import deliveries_of, emit, route, steps_of
from tests.environment import INTREX, intrex_env
from tests.peers import free_port
from tests.telegram_stub import TelegramStub

HOOK_PATH = "p4th-S3cret-7f2c9a"
QUERY_TOKEN = "qT0ken-91be77d2"
HMAC_SECRET = "hmac-S3cret-5c0ffee-2b7d0d91"
GATEWAY_KEY = "gw-S3cret-0a9b8c"
ACCESS_TOKEN = "EAAGm0PX4ZCpsBAK9xYz7wqL"
BOT_TOKEN = "7312345678:AAFq9Zk3vX0bT7yWmNc4pLr2sHd8eUjQ1oA"
PHONE_ID = "1234567890"
PLANTED = (HOOK_PATH, QUERY_TOKEN, HMAC_SECRET, GATEWAY_KEY, ACCESS_TOKEN, BOT_TOKEN)


def beginning(secret: str) -> str:
    """The first ten characters of a secret (of a bot token, of the part after the bot's
    public id): what a text cut in the middle of the secret would still show."""
    return (secret.partition(":")[2] or secret)[:10]


def leaks(haystack: str) -> list[str]:
    """The planted secrets (or their beginnings) found in `haystack`."""
    lowered = haystack.lower()
    return [s for s in PLANTED if s.lower() in lowered or beginning(s).lower() in lowered]


# -- the redactor, shape by shape ------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "secret"),
    [
        ("401 invalid token Bearer EAAGm0PX4ZCpsBAK9xYz", "EAAGm0PX4ZCpsBAK9xYz"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("authorization: Custom k3y-abc next-part\nHost: x", "k3y-abc"),
        ("{'Authorization': 'Token abc123def'}", "abc123def"),
        ("GET /x?access_token=abc123xyz&page=2", "abc123xyz"),
        ('{"client_secret": "s3cr3t\\"quoted", "ok": 1}', "s3cr3t"),
        ("password: hunter22 rejected", "hunter22"),
        ("x-api-key=key-1234-zz", "key-1234-zz"),
        ("connect https://ops:pa55word@hooks.example.com/x", "pa55word"),
        ("POST /bot7312345678:AAFq9Zk3vX0bT7yWmNc4pLr2sHd8eUjQ1oA/sendMessage", "AAFq9Zk3"),
        ("token 7312345678:AAFq9Zk3vX0bT7yWmNc4pLr2sHd8eUjQ1oA", "7312345678"),
        ("sig 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9f86d081"),
        ("key ya29.A0ARrdaM9x7Q2kLmN0pQrStUvWxYz123456789abc", "A0ARrdaM9x7Q"),
    ],
)
def test_every_secret_shape_is_removed(said: str, secret: str) -> None:
    cleaned = redact_shapes(said)
    assert secret not in cleaned
    assert MASK in cleaned


@pytest.mark.parametrize(
    "plain",
    [
        "HTTP 503: upstream unavailable",
        "the user blocked the bot: Forbidden: bot was blocked by the user",
        "Telegram rate limit: retry after 30s",
        "event 5f0c6b8e-1d2a-4c3b-9a8e-7f6d5c4b3a21 for +8801711000000",
        "KeyError: 'url'",
        "SMTP 550: 5.1.1 mailbox unavailable",
    ],
)
def test_ordinary_words_are_left_alone(plain: str) -> None:
    assert redact_shapes(plain) == plain


def test_a_webhook_url_path_and_query_are_secret_in_every_spelling() -> None:
    url = f"https://hooks.example.com/hook/{HOOK_PATH}?token={QUERY_TOKEN}&v=2"
    redactor = Redactor.for_connector({"url": url, "secret": HMAC_SECRET})
    echoes = [
        f"Cannot POST /hook/{HOOK_PATH}?token={QUERY_TOKEN}&v=2",
        f"<pre>Cannot POST /hook/{HOOK_PATH}?token={QUERY_TOKEN}&amp;v=2</pre>",
        f'{{"path": "\\/hook\\/{HOOK_PATH}"}}',
        f"unknown hook {HOOK_PATH.upper()}",
        f"no such hook: %2Fhook%2F{HOOK_PATH}",
        f"query {QUERY_TOKEN} expired",
        f"signature key {HMAC_SECRET} did not match",
    ]
    for echo in echoes:
        assert leaks(redactor(echo)) == [], echo
    assert redactor("HTTP 404 from hooks.example.com") == "HTTP 404 from hooks.example.com"


def test_the_tokens_and_logins_of_each_connector_type() -> None:
    whatsapp = Redactor.for_connector(
        {
            "phone_number_id": PHONE_ID,
            "access_token": ACCESS_TOKEN,
            "base_url": f"https://gw.example.com/gw/{GATEWAY_KEY}",
            "template_name": "intrex_alert",
        }
    )
    said = whatsapp(f"401 {ACCESS_TOKEN} at /gw/{GATEWAY_KEY}/{PHONE_ID}/messages intrex_alert")
    assert leaks(said) == []
    assert "intrex_alert" in said  # a template name is no secret
    smtp = Redactor.for_connector({"username": "alerts@acme.example", "password": "Pa55-w0rd!"})
    assert smtp("535 auth failed for alerts@acme.example (Pa55-w0rd!)") == (
        f"535 auth failed for {MASK} ({MASK})"
    )
    assert redact(f"Telegram unavailable: {BOT_TOKEN}", [BOT_TOKEN]) == (
        f"Telegram unavailable: {MASK}"
    )


def test_a_failure_is_redacted_before_it_is_cut() -> None:
    secret = "Zq8-never-show-any-part-of-this"
    said = DeliveryError("x" * 190 + secret, permanent=True)
    cut = Redactor([secret]).failure(said, limit=200)
    assert cut.permanent
    assert "Zq8" not in cut.message
    assert cut.message == "x" * 190 + MASK


def test_every_log_event_is_redacted() -> None:
    remember(["rememb3red-conn3ctor-secret"])
    buffer = io.StringIO()
    stdlib = logging.StreamHandler(buffer)
    logging.getLogger().addHandler(stdlib)
    try:
        configure_logging(Settings(_env_file=None, log_format="json"), stream=buffer)
        log = structlog.get_logger("test")
        log.warning(
            "answer",
            body="401 invalid token Bearer abcdefgh12345",
            nested={"url": "/x?token=qwerty123"},
            text="got rememb3red-conn3ctor-secret back",
        )
        try:
            raise RuntimeError(f"boom at /bot{BOT_TOKEN}/getMe")
        except RuntimeError:
            log.exception("failed")
            logging.getLogger("aiohttp.client").exception("stdlib failed")
        logging.getLogger("aiogram").warning("token %s", BOT_TOKEN)
    finally:
        logging.getLogger().removeHandler(stdlib)
        structlog.reset_defaults()
    written = buffer.getvalue()
    assert '"event": "answer"' in written
    assert "stdlib failed" in written
    for secret in ("abcdefgh12345", "qwerty123", "rememb3red", BOT_TOKEN, "AAFq9Zk3"):
        assert secret not in written
    assert redact_known("got rememb3red-conn3ctor-secret") == f"got {MASK}"


# -- the whole pipeline, against receivers that echo ------------------------------------------


@dataclass
class EchoingReceiver:
    """Answers each POST first with a 503, then with a 404 (webhook) or 401 (gateway), each
    quoting the request line, every header and the body, as careless servers do."""

    port: int = field(default_factory=free_port)
    seen: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _answer(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode(errors="replace")
        quoted = "\n".join(
            [f"{request.method} {request.raw_path} HTTP/1.1"]
            + [f"{name}: {value}" for name, value in request.headers.items()]
            + ["", body]
        )
        first = request.raw_path not in self.seen
        self.seen.append(request.raw_path)
        if first:
            return web.Response(status=503, text=f"Service Unavailable\n{quoted}")
        if request.raw_path.startswith("/hook/"):
            return web.Response(
                status=404,
                text=f"Cannot POST {request.raw_path}\nsigned with key {HMAC_SECRET}?\n{quoted}",
            )
        authorization = request.headers.get("Authorization", "")
        return web.Response(status=401, text=f"401 invalid token {authorization}\n{quoted}")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def echoing() -> AsyncIterator[EchoingReceiver]:
    peer = EchoingReceiver()
    await peer.start()
    yield peer
    await peer.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStub]:
    stub = TelegramStub()
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """The process's log as JSON lines (structlog and the standard library)."""
    buffer = io.StringIO()
    stdlib = logging.StreamHandler(buffer)
    logging.getLogger().addHandler(stdlib)
    configure_logging(Settings(_env_file=None, log_format="json"), stream=buffer)
    yield buffer
    logging.getLogger().removeHandler(stdlib)
    structlog.reset_defaults()


async def stored_texts(target: DatabaseTarget) -> dict[str, str]:
    """Every text or JSON column of every table (`table.column`: its values, one a line),
    the encrypted connector configuration aside; read as the superuser, so RLS hides none."""
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    found: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            columns = (
                await conn.execute(
                    text(
                        "SELECT c.table_schema, c.table_name, c.column_name "
                        "FROM information_schema.columns AS c "
                        "JOIN information_schema.tables AS t USING (table_schema, table_name) "
                        "WHERE t.table_type = 'BASE TABLE' "
                        "AND c.table_schema NOT IN ('pg_catalog', 'information_schema') "
                        "AND c.data_type IN "
                        "('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')"
                    )
                )
            ).all()
            for schema, table, column in columns:
                if (table, column) == ("connectors", "config_encrypted_json"):
                    continue
                values = await conn.scalars(
                    text(
                        f'SELECT "{column}"::text FROM "{schema}"."{table}" '
                        f'WHERE "{column}" IS NOT NULL'
                    )
                )
                found[f"{table}.{column}"] = "\n".join(values)
    finally:
        await engine.dispose()
    return found


async def intrex(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *INTREX, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_no_planted_secret_is_stored_logged_or_shown(
    world: World,
    private_target: DatabaseTarget,
    settings: Settings,
    clock: Clock,
    echoing: EchoingReceiver,
    telegram: TelegramStub,
    captured_log: io.StringIO,
) -> None:
    key = generate_key()
    box = SecretBox([key])
    hook = f"{echoing.base}/hook/{HOOK_PATH}?token={QUERY_TOKEN}"
    specs = [
        ConnectorSpec(type=ConnectorType.webhook, name="hook", url=hook, secret=HMAC_SECRET),
        ConnectorSpec(
            type=ConnectorType.whatsapp_business,
            name="wa",
            phone_number_id=PHONE_ID,
            access_token=ACCESS_TOKEN,
            base_url=f"{echoing.base}/gw/{GATEWAY_KEY}",
            template="intrex_alert",
            template_language="en",
            template_params="headline",
        ),
        ConnectorSpec(type=ConnectorType.telegram_bot, name="tg"),
    ]
    for spec in specs:
        await add_connector(world.db, box, world.tenant, spec, allow_private=True)
    await route(world, "hook")
    await route(world, "wa", "+8801711000000")
    await route(world, "tg", "role:head_office_admin")
    await person(world.db, world.tenant, AppRole.head_office_admin, telegram_user_id=4242)
    telegram.fail_next("sendMessage", 502, f"Bad Gateway: POST /bot{BOT_TOKEN}/sendMessage")
    telegram.fail_next("sendMessage", 400, f"Bad Request: chat not found (token {BOT_TOKEN})")

    running = settings.model_copy(
        update={"bot_token": SecretStr(BOT_TOKEN), "telegram_api_url": telegram.base_url}
    )
    bot = create_bot(running)
    channels = build_channels(running, BotTelegramSender(bot))
    dispatcher = Dispatcher(world.db, running, box, channels, worker_id="echo", clock=clock)
    event = await emit(world, clock.now)
    assert event is not None
    try:
        for _ in range(4):
            await dispatcher.run_once()
            clock.advance(hours=1)
    finally:
        await close_channels(channels)
        await bot.session.close()

    steps = await steps_of(world, event.id)
    dead = sorted(s.recipient_ref[:5] for s in steps if s.status is NotificationStatus.dead_letter)
    assert dead == ["+8801", "-", "user:"]
    errors = [d.error or "" for d in await deliveries_of(world, event.id)]
    assert len(errors) == 6  # a transient failure, then a permanent one, per connector
    assert any(e.startswith(f"HTTP 404: Cannot POST {MASK}") for e in errors), errors
    assert any(e.startswith(f"HTTP 401: 401 invalid token {MASK}") for e in errors), errors
    assert any(e.startswith("Telegram unavailable: Bad Gateway") for e in errors)
    assert len(echoing.seen) == 4
    assert len(telegram.sent()) == 2

    stored = await stored_texts(private_target)
    assert "notification_deliveries.error" in stored
    assert "activity_logs.after_json" in stored
    assert {column: leaks(values) for column, values in stored.items() if leaks(values)} == {}

    log = captured_log.getvalue()
    assert '"event": "delivery failed"' in log
    assert leaks(log) == []
    assert leaks(generate_latest(REGISTRY).decode()) == []

    env = intrex_env(private_target, secret_key=key)
    code, listed = await intrex(
        env, "connector", "list", "--tenant", str(world.tenant.id), "--json"
    )
    assert code == 0, listed
    shown = json.loads(listed.strip().splitlines()[-1])
    assert {c["name"]: bool(c["last_error"]) for c in shown["connectors"]} == {
        "hook": True,
        "tg": True,
        "wa": True,
    }
    assert leaks(listed) == []
    code, letters = await intrex(env, "notify", "dead-letters", "--json")
    assert code == 0, letters
    assert str(event.id) in letters
    assert leaks(letters) == []
