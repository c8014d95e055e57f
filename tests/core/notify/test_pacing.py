"""The shared Telegram budget: token buckets in PostgreSQL, taken in one statement.

Concurrent takers on separate connections never get more than the rate allows: every
token taken is accounted for in the row, so the bucket's promises run out exactly at the
rate, and the moments handed out are spaced by it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from bot.app import create_bot
from bot.telegram import BotTelegramSender
from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import AppRole, ConnectorType, NotificationStatus
from core.db.session import Database
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.models import NotificationStep, RateBucket
from core.notify.pacing import Limit, TelegramPace, give_back, take
from core.notify.wiring import build_channels, close_channels
from tests.companies import person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import emit, route
from tests.telegram_stub import TelegramStub


async def bucket(db: Database, key: str) -> tuple[float, datetime]:
    async with db.system_uow() as session:
        row = (
            await session.execute(
                select(RateBucket.tokens, RateBucket.refilled_at).where(RateBucket.key == key)
            )
        ).one()
    return row[0], row[1]


async def bucket_in_debt(db: Database, key: str, tokens: float) -> None:
    async with db.system_uow() as session:
        await session.execute(
            text(
                "INSERT INTO rate_buckets (key, tokens, refilled_at) "
                "VALUES (:key, :tokens, clock_timestamp()) ON CONFLICT (key) "
                "DO UPDATE SET tokens = :tokens, refilled_at = clock_timestamp()"
            ),
            {"key": key, "tokens": tokens},
        )


def test_the_buckets_keep_the_limits_over_any_window() -> None:
    per_second = Limit.per_second(25)
    assert (per_second.rate, per_second.capacity) == (25.0, 2.5)
    per_minute = Limit.per_minute(20)
    # 5 at once, then 15 over the minute: never more than 20 in any 60 seconds.
    assert (per_minute.capacity, per_minute.rate * 60) == (5.0, 15.0)
    assert per_minute.capacity + per_minute.rate * 60 == 20
    assert Limit.per_minute(2).capacity + Limit.per_minute(2).rate * 60 == 2


async def test_a_full_bucket_gives_its_burst_then_spaces_by_the_rate(private_db: Database) -> None:
    limit = Limit(rate=10.0, capacity=3.0)
    async with private_db.system_uow() as session:
        first = await take(session, limit, Counter({"t:spacing": 6}))
    waits = first["t:spacing"]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3], abs=0.02)
    async with private_db.system_uow() as session:
        second = await take(session, limit, Counter({"t:spacing": 1}))
    # Promised after the first three reserved: 0.4 s after the first take, less time passed.
    assert 0.3 < second["t:spacing"][0] <= 0.4
    async with private_db.system_uow() as session:
        await give_back(session, limit, Counter({"t:spacing": 4}))
        third = await take(session, limit, Counter({"t:spacing": 1}))
    assert third["t:spacing"][0] <= 0.1


async def test_concurrent_takers_never_exceed_the_rate(private_db: Database) -> None:
    """Twelve takers on their own connections, 40 takes each: no take is lost (the row
    accounts for every token) and the promises end exactly where the rate puts them."""
    key, limit = "t:concurrent", Limit(rate=100.0, capacity=5.0)
    # Promised well ahead already, so it never refills to its cap during the test: then
    # every token taken must show in the row.
    await bucket_in_debt(private_db, key, -1000.0)
    _, started = await bucket(private_db, key)
    rng = random.Random(16)
    plans = [[rng.randint(1, 4) for _ in range(40)] for _ in range(12)]
    promised: list[float] = []

    async def taker(plan: list[int]) -> None:
        for count in plan:
            async with private_db.system_uow() as session:
                waits = await take(session, limit, Counter({key: count}))
            promised.extend(waits[key])

    await asyncio.gather(*(taker(plan) for plan in plans))
    total = sum(sum(plan) for plan in plans)
    assert len(promised) == total
    tokens, refilled_at = await bucket(private_db, key)
    elapsed = (refilled_at - started).total_seconds()
    # What the row holds is what time gave it less everything taken: no take was lost.
    assert tokens == pytest.approx(-1000 + limit.rate * elapsed - total, abs=1e-6)
    # Its promises run out when the rate has paid for every token, no sooner.
    assert elapsed - tokens / limit.rate == pytest.approx((1000 + total) / limit.rate, abs=1e-6)
    # And the moments handed out are spaced by the rate: the k-th soonest is k / rate away.
    ordered = sorted(promised)
    assert ordered[-1] - ordered[0] >= (total - 1) / limit.rate - elapsed


async def test_a_pace_spaces_one_chat_and_shares_the_token(private_db: Database) -> None:
    settings = Settings(
        _env_file=None,
        bot_token="424242:secret-part",
        telegram_max_per_second=100,
        telegram_max_per_chat_per_minute=20,
    )
    pace = TelegramPace.from_settings(private_db, settings)
    assert pace.token_key == "telegram:424242"  # the secret part of the token stays out
    waits = await pace.reserve([1, 2, 3, 7, 7, 7, 7, 7, 7, 7])
    assert waits[:3] == pytest.approx([0.0, 0.0, 0.0], abs=0.05)
    # Chat 7: five at once, then one every 4 seconds (15 over the minute).
    assert sorted(waits[3:]) == pytest.approx([0, 0, 0, 0, 0, 4, 8], abs=0.1)
    await pace.release([7, 7])  # the two furthest off were deferred: their moments are free
    again = await pace.reserve([7])
    assert again == pytest.approx([4], abs=0.1)


async def test_a_429_holds_the_chats_budget_for_every_replica(
    world: World, box: SecretBox, settings: Settings, clock: Clock
) -> None:
    """Telegram's 429 reaches the sender through a real aiogram session: the step is
    retried no sooner than `retry_after`, and another replica's pace for that chat waits
    it out too (another chat keeps its budget)."""
    stub = TelegramStub()
    await stub.start()
    running = settings.model_copy(
        update={"bot_token": SecretStr("515151:pacing-token"), "telegram_api_url": stub.base_url}
    )
    bot = create_bot(running)
    channels = build_channels(running, BotTelegramSender(bot))
    try:
        spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
        await add_connector(world.db, box, world.tenant, spec, allow_private=False)
        await person(world.db, world.tenant, AppRole.head_office_admin, telegram_user_id=6161)
        await route(world, "tg", "role:head_office_admin")
        stub.fail_next("sendMessage", 429, "Too Many Requests: retry after 40", retry_after=40)
        assert await emit(world, clock.now) is not None
        dispatcher = Dispatcher(world.db, running, box, channels, worker_id="paced", clock=clock)
        await dispatcher.run_once()
        async with world.db.tenant_uow(world.tenant.id) as session:
            step = await session.scalar(
                select(NotificationStep).where(NotificationStep.recipient_ref.startswith("user:"))
            )
        assert step is not None
        assert step.status is NotificationStatus.failed
        assert "retry after 40" in (step.last_error or "")
        assert step.next_attempt_at >= clock.now + timedelta(seconds=40)

        replica = TelegramPace.from_settings(world.db, running)
        waits = await replica.reserve([6161, 6262])
        assert waits[0] == pytest.approx(40, abs=2)
        assert waits[1] == pytest.approx(0, abs=0.1)

        clock.advance(seconds=41)
        await replica.release([6161])
        await dispatcher.run_once()
        assert len(stub.sent("sendMessage", chat_id=6161)) == 1
    finally:
        await close_channels(channels)
        await bot.session.close()
        await stub.stop()
