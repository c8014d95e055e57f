"""A stopping process waits for the updates in hand (real dispatcher, real Bot API session)."""

from __future__ import annotations

import asyncio
import time

from aiogram import Dispatcher, Router
from aiogram.types import Message, Update

from bot.app import create_bot
from bot.middlewares import InFlightMiddleware
from core.config import Settings
from tests.telegram_stub import TelegramStub


def _update(number: int, text: str) -> Update:
    return Update.model_validate(
        {
            "update_id": number,
            "message": {
                "message_id": number,
                "date": int(time.time()),
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "Slow"},
                "text": text,
            },
        }
    )


async def test_drained_waits_for_the_updates_in_hand(stub: TelegramStub) -> None:
    release = asyncio.Event()
    router = Router()

    @router.message()
    async def slow(message: Message) -> None:
        await release.wait()
        await message.answer(f"done: {message.text}")

    in_flight = InFlightMiddleware()
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(in_flight)
    dispatcher.include_router(router)
    bot = create_bot(Settings(_env_file=None, bot_token="1:TEST", telegram_api_url=stub.base_url))
    try:
        assert await in_flight.drained(0.01)
        handling = [
            asyncio.create_task(dispatcher.feed_update(bot, _update(n, f"u{n}"))) for n in (1, 2)
        ]
        await asyncio.sleep(0.05)
        assert in_flight.handling == 2
        assert not await in_flight.drained(0.1)
        assert stub.texts(42) == []
        release.set()
        assert await in_flight.drained(5)
        assert in_flight.handling == 0
        assert sorted(stub.texts(42)) == ["done: u1", "done: u2"]
        await asyncio.gather(*handling)
    finally:
        await bot.session.close()
