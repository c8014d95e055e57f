"""Bot latency and throughput: /obligations for a tenant with 100,000 obligation instances.

Builds the real Dispatcher (routers, middlewares, PostgreSQL conversation storage) and a
real aiogram Bot whose HTTP session talks to the loopback Bot API stand-in; each update is
fed as a webhook would feed it and counts as done when the bot's answer has reached the
stand-in. Prints, for one process, `/obligations` end-to-end latency p50/p95 (sequential)
and updates/s (16 in flight, in alternating rounds), next to the same figures for a bare
echo handler on the same bot and stand-in in the same run: the framework's floor.
Targets: p95 under 50 ms; at least half the echo handler's throughput.

    .venv/bin/python bench/bot_bench.py [--instances 100000] [--updates 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.common import percentile, scratch_database, server
from bench.obligations_bench import load
from bot.app import create_bot, create_dispatcher
from core.config import Settings
from core.db.enums import AppRole
from core.db.session import Database
from core.tenancy.models import User
from tests.telegram_stub import TelegramStub

CHAT = 777_000
BENCH_TOKEN = "1:BENCH-ONLY-TOKEN"  # noqa: S105 - the stand-in accepts any token
_ids = itertools.count(1)
IN_FLIGHT = 16


def update(text: str) -> Update:
    return Update.model_validate(
        {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": int(time.time()),
                "chat": {"id": CHAT, "type": "private"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "Bench"},
                "text": text,
            },
        }
    )


def echo_dispatcher() -> Dispatcher:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


Feed = Callable[[Update], Awaitable[object]]


async def latencies(feed: Feed, text: str, count: int) -> tuple[float, float]:
    """(p50 ms, p95 ms) of `count` updates fed one after another, after a warm-up."""
    for _ in range(20):
        await feed(update(text))
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await feed(update(text))
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, percentile(samples, 0.95) * 1000


async def throughput(feed: Feed, text: str, count: int) -> tuple[float, float]:
    """(updates/s, process CPU ms per update) with IN_FLIGHT updates in flight."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with slots:
            await feed(update(text))

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - started
    return count / elapsed, (time.process_time() - cpu) / count * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"bot_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    stub = TelegramStub()
    await stub.start()
    async with server() as server_url, scratch_database(server_url) as target:
        admin = create_async_engine(target.admin_url, poolclass=NullPool)
        started = time.perf_counter()
        tenant_id = await load(admin, args.branches, args.instances, datetime.now(UTC).date())
        await admin.dispose()
        print(f"loaded {args.instances} instances in {time.perf_counter() - started:.0f} s")
        db = Database(target.runtime_url, pool_size=20)
        async with db.tenant_uow(tenant_id) as session:
            session.add(
                User(
                    tenant_id=tenant_id,
                    role=AppRole.head_office_admin,
                    telegram_user_id=CHAT,
                    full_name="Bench",
                    email=f"bench-{uuid.uuid4().hex[:6]}@example.com",
                )
            )
        settings = Settings(_env_file=None, bot_token=BENCH_TOKEN, telegram_api_url=stub.base_url)
        bot: Bot = create_bot(settings)
        intrex = create_dispatcher(db, settings)
        echo = echo_dispatcher()

        async def echo_feed(item: Update) -> object:
            return await echo.feed_update(bot, item)

        async def intrex_feed(item: Update) -> object:
            return await intrex.feed_update(bot, item)

        try:
            echo_p50, echo_p95 = await latencies(echo_feed, "hello", args.updates)
            p50, p95 = await latencies(intrex_feed, "/obligations", args.updates)
            rounds = []
            for _ in range(args.rounds):
                # Alternating rounds: both sides see the same machine, so the ratio of a
                # round's pair holds up where the absolute rates drift.
                echo_round = await throughput(echo_feed, "hello", args.updates)
                intrex_round = await throughput(intrex_feed, "/obligations", args.updates)
                rounds.append((echo_round, intrex_round))
        finally:
            await bot.session.close()
            await db.dispose()
    await stub.stop()
    answered = len(stub.sent())
    print(f"throughput, {IN_FLIGHT} in flight, {args.updates} updates a round:")
    for number, ((echo_rate, echo_cpu), (rate, cpu)) in enumerate(rounds, start=1):
        print(
            f"  round {number}: echo {echo_rate:6.0f}/s ({echo_cpu:.2f} ms CPU each)  "
            f"/obligations {rate:6.0f}/s ({cpu:.2f} ms CPU each)  ratio {rate / echo_rate:.2f}"
        )
    echo_rate = statistics.median(r[0][0] for r in rounds)
    rate = statistics.median(r[1][0] for r in rounds)
    ratio = statistics.median(r[1][0] / r[0][0] for r in rounds)
    cpu_ratio = statistics.median(r[0][1] / r[1][1] for r in rounds)
    for name, (a, b, c) in {
        "bare echo handler": (echo_p50, echo_p95, echo_rate),
        "/obligations": (p50, p95, rate),
    }.items():
        print(f"{name:18} p50 {a:6.1f} ms  p95 {b:6.1f} ms  {c:7.0f} updates/s")
    print(
        f"/obligations throughput is {ratio:.2f}x the echo handler's, median of {len(rounds)} "
        f"rounds (target ≥ 0.5; by CPU per update {cpu_ratio:.2f}x); p95 target < 50 ms; "
        f"{answered} answers reached the stand-in"
    )


if __name__ == "__main__":
    asyncio.run(main())
