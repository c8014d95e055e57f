"""`intrex run`: the database, the bot (polling or webhook), the worker, and the HTTP server.

One process can run everything; `--no-bot` and `--no-worker` split it so webhook bot
replicas behind a load balancer and worker replicas share one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.app import create_bot, create_dispatcher, set_commands
from bot.middlewares import InFlightMiddleware
from bot.telegram import BotTelegramSender
from cli.whatsapp_webhook import add_whatsapp_webhook
from core.config import Settings
from core.crypto import SecretBox, load_secret_box
from core.db.migrate import ensure_schema
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.errors import ConfigurationError, ErrorCode, IntrexError
from core.metrics import REGISTRY
from core.storage import local_storage
from core.worker import Worker
from web.app import PREFIX as DASHBOARD_PREFIX
from web.app import create_dashboard

log = structlog.get_logger(__name__)
WEBHOOK_PATH = "/telegram/webhook"


@dataclass
class Services:
    """What this process runs, for the status line and /healthz."""

    database: str
    started: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    worker: Worker | None = None
    db: Database | None = None
    http_port: int = 0


async def healthz(services: Services) -> tuple[int, dict[str, Any]]:
    """Database reachable, and the scheduler ticking when this process runs one.

    Until the scheduler's first tick (a second after start) it is `starting`, which is not
    unhealthy; one that then stops ticking, or never ticks at all, is `stalled` (503).
    """
    body: dict[str, Any] = {"started": services.started}
    healthy = True
    try:
        assert services.db is not None
        async with asyncio.timeout(3), services.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:
        body["database"] = f"unreachable: {type(exc).__name__}"
        healthy = False
    worker = services.worker
    if worker is not None:
        state = "ok" if worker.alive() else "starting" if worker.starting() else "stalled"
        body["scheduler"] = state
        healthy = healthy and state != "stalled"
    return (200 if healthy else 503), body


def http_app(services: Services) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        status, body = await healthz(services)
        return web.json_response(body, status=status)

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app = web.Application()
    app.router.add_get("/healthz", health)
    app.router.add_get("/metrics", metrics)
    return app


async def run_services(
    settings: Settings,
    target: DatabaseTarget,
    stop: asyncio.Event,
    *,
    bot_wanted: bool,
    worker_wanted: bool,
    announce: Any,
) -> None:
    """Start what is wanted and possible, announce it, run until `stop`, then drain."""
    await ensure_schema(target)
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=10)
    services = Services(
        database="embedded PostgreSQL" if target.embedded else "DATABASE_URL", db=db
    )
    bot: Bot | None = None
    dispatcher: Dispatcher | None = None
    if bot_wanted or worker_wanted:
        if settings.bot_token is None:
            services.skipped["bot"] = "BOT_TOKEN is not set (Telegram alerts cannot be sent)"
        else:
            bot = create_bot(settings)
    in_flight = InFlightMiddleware()
    if bot_wanted and bot is not None:
        dispatcher = create_dispatcher(db, settings, in_flight=in_flight)
    tasks: list[asyncio.Task[Any]] = []
    app = http_app(services)
    if add_whatsapp_webhook(app, db, settings):
        services.started.append("whatsapp status webhook")
    dashboard_secrets = _dashboard_secrets(settings, embedded=target.embedded is not None)
    app.add_subapp(
        DASHBOARD_PREFIX, create_dashboard(db, settings, local_storage(settings), dashboard_secrets)
    )
    if dashboard_secrets is not None and settings.bot_token is not None:
        services.started.append(f"dashboard {DASHBOARD_PREFIX}")
    else:
        services.skipped["dashboard"] = "BOT_TOKEN and encryption keys are needed to sign in"
    if dispatcher is not None and bot is not None:
        await set_commands(bot)
        if settings.bot_mode == "webhook":
            await _start_webhook(app, settings, dispatcher, bot)
            services.started.append("bot (webhook)")
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            tasks.append(
                asyncio.create_task(
                    dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False),
                    name="polling",
                )
            )
            services.started.append("bot (polling)")
    elif not bot_wanted:
        services.skipped["bot"] = "--no-bot"
    if worker_wanted:
        secrets = load_secret_box(settings, embedded=target.embedded is not None)
        telegram = BotTelegramSender(bot) if bot is not None else None
        services.worker = Worker(db, settings, secrets, telegram)
        tasks.append(asyncio.create_task(services.worker.run(stop), name="worker"))
        services.started += ["scheduler", "dispatcher"]
    else:
        services.skipped["worker"] = "--no-worker"
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    port = _bound_port(site, settings.http_port)
    services.http_port = port
    services.started.append(f"http {settings.http_host}:{port}")
    freeze_startup_heap()
    announce(services)
    failures: list[str] = []
    for task in tasks:
        task.add_done_callback(_stop_on_failure(stop, failures))
    try:
        await stop.wait()
    finally:
        if dispatcher is not None and settings.bot_mode == "polling":
            with contextlib.suppress(RuntimeError):
                await dispatcher.stop_polling()
        await runner.cleanup()
        if not await in_flight.drained(settings.shutdown_grace_seconds):
            log.warning("stopping with updates still in hand", updates=in_flight.handling)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True),
                settings.shutdown_grace_seconds + 5,
            )
        if bot is not None:
            await bot.session.close()
        await db.dispose()
    if failures:
        raise IntrexError(ErrorCode.part_failed, failures="; ".join(failures))


def freeze_startup_heap() -> None:
    """Move what start-up built (modules, mappers, catalogues, compiled templates) out of the
    garbage collector's sight, after collecting the start-up garbage.

    Those objects live as long as the process, yet every full collection walked them all: on
    the dashboard bench (1,000 branches, 1,000,000 instances) a full collection took 120 to
    160 ms, and landing inside a request it was that page's p95 (165 ms against a p50 of
    44 ms). Frozen, a full collection walks only what requests made since: about 5 ms.
    """
    gc.collect()
    gc.freeze()


def _stop_on_failure(stop: asyncio.Event, failures: list[str]) -> Any:
    """A part that dies takes the process down with a clear reason, rather than lingering."""

    def check(task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        failures.append(f"{task.get_name()}: {type(error).__name__}: {error}")
        log.error("part failed", part=task.get_name(), error=repr(error))
        stop.set()

    return check


async def _start_webhook(
    app: web.Application, settings: Settings, dispatcher: Dispatcher, bot: Bot
) -> None:
    if not settings.webhook_base_url or settings.webhook_secret is None:
        raise ConfigurationError(ErrorCode.webhook_mode_incomplete)
    secret = settings.webhook_secret.get_secret_value()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(
        app, path=WEBHOOK_PATH
    )
    setup_application(app, dispatcher, bot=bot)
    await bot.set_webhook(
        settings.webhook_base_url.rstrip("/") + WEBHOOK_PATH,
        secret_token=secret,
        drop_pending_updates=False,
    )


def _dashboard_secrets(settings: Settings, *, embedded: bool) -> SecretBox | None:
    """The keys the dashboard signs its cookies with; None (nobody can sign in) without them."""
    try:
        return load_secret_box(settings, embedded=embedded)
    except ConfigurationError:
        return None


def _bound_port(site: web.TCPSite, asked: int) -> int:
    """The port the HTTP server got (HTTP_PORT=0 asks the system for a free one)."""
    server = site._server
    sockets = getattr(server, "sockets", None)
    return int(sockets[0].getsockname()[1]) if sockets else asked
