"""Every update and every button press gets an answer, even when something breaks.

A real outage: the dispatcher's database is a port nobody listens on. The person hears
"something went wrong, try again" in their language, the failure is logged once with its
traceback, and SQL parameters (people's data) never reach an error message.
"""

from __future__ import annotations

import time

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.app import create_dispatcher
from bot.routers.errors import loggable
from core.db.session import Database
from tests.bot.conftest import RESOLVER, BotWorld, Conversation

DEAD_DATABASE = "postgresql+asyncpg://intrex@127.0.0.1:9/intrex"


async def test_an_outage_is_answered_and_logged_once(world: BotWorld) -> None:
    dead = Database(DEAD_DATABASE, system_url=DEAD_DATABASE, pool_size=1)
    world.dispatcher = create_dispatcher(dead, world.settings, ssl_resolver=RESOLVER)
    person = Conversation(world, name="Opu")
    speaker = Conversation(world, name="Rina", language_code="bn")
    try:
        with structlog.testing.capture_logs() as logs:
            said = await person.send("/obligations")
            pressed = await person.press("op:all:0")
            in_bengali = await speaker.send("/help")
    finally:
        await dead.dispose()
    assert "Something went wrong on our side. Please try again in a moment." in said
    assert "Something went wrong" in pressed
    assert "আবার চেষ্টা করুন" in in_bengali
    failures = [entry for entry in logs if entry["event"] == "update failed"]
    assert len(failures) == 3
    assert all(entry.get("exc_info") for entry in failures)


async def test_sql_parameters_stay_out_of_the_log(world: BotWorld) -> None:
    with pytest.raises(DBAPIError) as caught:
        await world.db.system_execute(
            text("SELECT CAST(:value AS integer)"), {"value": "customer-secret-0171"}
        )
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(caught.value)
    error = loggable(caught.value)
    with structlog.testing.capture_logs(processors=[structlog.processors.format_exc_info]) as logs:
        structlog.get_logger().error(
            "update failed", exc_info=(type(error), error, error.__traceback__)
        )
    logged = logs[0]["exception"]
    assert "Traceback" in logged
    assert "SELECT CAST($1 AS integer)" in logged
    assert "customer-secret-0171" not in logged


async def test_a_short_flood_wait_on_a_reply_is_waited_out(world: BotWorld) -> None:
    """Telegram's 429 with a short retry_after on a reply: the reply comes, once, late."""
    person = Conversation(world, name="Opu")
    world.stub.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    said = await person.send("/help")
    assert time.monotonic() - started >= 1
    assert "not linked to Intrex yet" in said
    # The stand-in records every request: the refused one, then the one made again.
    attempts = world.stub.texts(person.telegram_id)
    assert len(attempts) == 2
    assert attempts[0] == attempts[1]
