"""/users for a tenant with 2,000 people in 40 branches: the latency of a page.

The real Dispatcher (routers, middlewares, PostgreSQL conversation storage) and a real
aiogram Bot whose HTTP session talks to the loopback Bot API stand-in. Each update counts
as done when the bot's answer has reached the stand-in. Measured, one after another, after
a warm-up: `/users` (the first page, a new message) and page-button presses spread over
every page (the message edited in place), for a head office admin in English and in
Bengali, and for a branch manager (the people of their branches only).
Target: p95 under 50 ms a page.

    .venv/bin/python bench/people_bench.py [--people 2000] [--branches 40] [--updates 400]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.bot_bench import update
from bench.common import percentile, scratch_database, server
from bot.app import create_bot, create_dispatcher
from bot.callbacks import PeoplePageButton
from bot.routers.people import PAGE_SIZE
from core.config import Settings
from core.db.enums import AppRole, Language
from core.db.session import Database
from core.tenancy.models import Branch, Tenant, User, UserBranch
from tests.telegram_stub import TelegramStub

BENCH_TOKEN = "1:BENCH-ONLY-TOKEN"  # noqa: S105 - the stand-in accepts any token
TARGET_P95_MS = 50.0
_ids = itertools.count(1)


def press(data: str, chat: int, message_id: int) -> Update:
    return Update.model_validate(
        {
            "update_id": next(_ids),
            "callback_query": {
                "id": str(next(_ids)),
                "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
                "chat_instance": "bench",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "private"},
                    "from": {"id": 1, "is_bot": True, "first_name": "Intrex"},
                    "text": "…",
                },
            },
        }
    )


async def load(session: AsyncSession, tenant_id: uuid.UUID, people: int, branches: int) -> None:
    """`branches` branches; `people` operators and managers, one or two branches each, a
    tenth disabled, a tenth invited and not linked, seen at different times."""
    branch_ids = [uuid.uuid4() for _ in range(branches)]
    await session.execute(
        insert(Branch),
        [
            {"id": branch_id, "tenant_id": tenant_id, "code": f"B{n:03d}", "name": f"Branch {n}"}
            for n, branch_id in enumerate(branch_ids)
        ],
    )
    now = datetime.now(UTC)
    rows = [
        {
            "tenant_id": tenant_id,
            "role": AppRole.branch_manager if n % 10 == 0 else AppRole.operator,
            "status": "disabled" if n % 10 == 3 else "active",
            "email": f"person{n}@bench.example",
            "full_name": f"Person {n:04d}",
            "telegram_user_id": None if n % 10 == 7 else 5_000_000 + n,
            "telegram_username": f"person_{n}",
            "last_seen_at": now - timedelta(minutes=n),
        }
        for n in range(people)
    ]
    ids = list(await session.scalars(insert(User).returning(User.id), rows))
    links = [
        {"tenant_id": tenant_id, "user_id": user_id, "branch_id": branch_ids[n % branches]}
        for n, user_id in enumerate(ids)
    ]
    links += [
        {"tenant_id": tenant_id, "user_id": user_id, "branch_id": branch_ids[(n + 1) % branches]}
        for n, user_id in enumerate(ids)
        if n % 4 == 0
    ]
    await session.execute(insert(UserBranch), links)


Feed = Callable[[Update], Any]


async def measure(
    feed: Feed, stub: TelegramStub, chat: int, pages: int, count: int
) -> dict[str, tuple[float, float]]:
    """(p50 ms, p95 ms) for /users and for page presses, after a warm-up of each."""
    for _ in range(10):
        await feed(update("/users", chat))
    listing = [(key, value) for key, value in stub.messages.items() if key[0] == chat]
    message_id = listing[-1][0][1]
    for page in range(min(pages, 10)):
        await feed(press(PeoplePageButton(page=page).pack(), chat, message_id))
    figures: dict[str, tuple[float, float]] = {}
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await feed(update("/users", chat))
        samples.append(time.perf_counter() - started)
    figures["/users"] = (statistics.median(samples) * 1000, percentile(samples, 0.95) * 1000)
    samples = []
    for step in range(count):
        page = (step * 7919) % pages
        started = time.perf_counter()
        await feed(press(PeoplePageButton(page=page).pack(), chat, message_id))
        samples.append(time.perf_counter() - started)
    figures["page press"] = (statistics.median(samples) * 1000, percentile(samples, 0.95) * 1000)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--branches", type=int, default=40)
    parser.add_argument("--updates", type=int, default=400)
    args = parser.parse_args()
    print(f"people_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    # The bench measures what one reply costs Intrex, as fast as it can answer: Telegram's
    # send limits (which the stand-in enforces by default) would measure the pacing instead.
    stub = TelegramStub(enforce_limits=False)
    await stub.start()
    async with server() as server_url, scratch_database(server_url) as target:
        db = Database(target.runtime_url, system_url=target.system_url, pool_size=10)
        tenant_id = uuid.uuid4()
        chats = {"admin en": 888_000, "admin bn": 888_001, "manager en": 888_002}
        async with db.tenant_uow(tenant_id) as session:
            session.add(Tenant(id=tenant_id, name="Bench", timezone="Asia/Dhaka"))
            await session.flush()
            await load(session, tenant_id, args.people, args.branches)
            for name, chat in chats.items():
                role = AppRole.branch_manager if "manager" in name else AppRole.head_office_admin
                user = User(
                    tenant_id=tenant_id,
                    role=role,
                    telegram_user_id=chat,
                    full_name=name,
                    language=(Language.bn if "bn" in name else Language.en).value,
                )
                session.add(user)
                await session.flush()
                if role is AppRole.branch_manager:
                    branch = await session.scalar(Branch.__table__.select().limit(1))
                    session.add(UserBranch(tenant_id=tenant_id, user_id=user.id, branch_id=branch))
        settings = Settings(_env_file=None, bot_token=BENCH_TOKEN, telegram_api_url=stub.base_url)
        bot: Bot = create_bot(settings)
        dispatcher: Dispatcher = create_dispatcher(db, settings)

        async def feed(item: Update) -> object:
            return await dispatcher.feed_update(bot, item)

        total_pages = -(-(args.people + len(chats)) // PAGE_SIZE)
        results: dict[str, dict[str, tuple[float, float]]] = {}
        try:
            for name, chat in chats.items():
                pages = total_pages if "admin" in name else 1
                results[name] = await measure(feed, stub, chat, pages, args.updates)
        finally:
            await bot.session.close()
            await db.dispose()
            await stub.stop()
    print(
        f"{args.people} people in {args.branches} branches, {PAGE_SIZE} a page, "
        f"{args.updates} updates each, sequential"
    )
    goal = f"target p95 < {TARGET_P95_MS:.0f} ms"
    print(f"{'who':<12} {'what':<12} {'p50 ms':>8} {'p95 ms':>8}   {goal}")
    worst = 0.0
    for name, figures in results.items():
        for what, (p50, p95) in figures.items():
            worst = max(worst, p95)
            verdict = "ok" if p95 < TARGET_P95_MS else "MISSED"
            print(f"{name:<12} {what:<12} {p50:8.1f} {p95:8.1f}   {verdict}")
    print(f"worst p95 {worst:.1f} ms: {'met' if worst < TARGET_P95_MS else 'missed'}")


if __name__ == "__main__":
    asyncio.run(main())
