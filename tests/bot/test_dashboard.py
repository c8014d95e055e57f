"""/dashboard through the dispatcher and the Bot API stand-in, its links used over real HTTP.

The reply's sign-in link signs a browser in to a dashboard served on a loopback port over
the same database (once: a second use is refused); its calendar address is a feed; New
calendar link replaces it (the old address then answers 404). The Web App button is there
only when WEB_BASE_URL is HTTPS.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.callbacks import CalendarFeedButton
from core.db.enums import AppRole
from core.i18n import texts_for
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import Company, company
from tests.web.conftest import Browser, DashboardServer, running_dashboard

LOGIN = re.compile(r"/app/login\?token=([A-Za-z0-9_-]+)")
CALENDAR = re.compile(r"/app/calendar/([A-Za-z0-9_-]+)\.ics")


@pytest.fixture
async def firm(world: BotWorld) -> Company:
    return await company(world.db)


@pytest.fixture
async def site(world: BotWorld, tmp_path: Path) -> AsyncIterator[DashboardServer]:
    async with running_dashboard(world.db, tmp_path) as server:
        yield server


@pytest.fixture
async def visitor(site: DashboardServer) -> AsyncIterator[Browser]:
    browser = Browser(site)
    yield browser
    await browser.close()


def keyboard(person: Conversation) -> list[dict[str, Any]]:
    markup = person.last_message().get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def found(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    assert match is not None, text
    return match.group(1)


async def feed_status(browser: Browser, token: str) -> int:
    _, response = await browser.get_bytes(f"/calendar/{token}.ics")
    return response.status


async def test_the_reply_signs_in_once_and_gives_the_calendar(
    world: BotWorld, firm: Company, visitor: Browser
) -> None:
    karim = await member(world, firm, AppRole.branch_manager, firm.dhaka, "Karim")
    reply = await karim.send("/dashboard")
    base = world.settings.dashboard_base_url
    assert base.startswith("http://")
    assert "needs an HTTPS WEB_BASE_URL" in reply
    assert "expires in 10 minutes and works once" in reply
    token = found(LOGIN, reply)
    assert f"{base}/app/login?token={token}" in reply
    feed = found(CALENDAR, reply)
    assert f"{base}/app/calendar/{feed}.ics" in reply
    assert [button.get("callback_data") for button in keyboard(karim)] == [
        CalendarFeedButton().pack()
    ]
    assert not any("web_app" in button for button in keyboard(karim))

    page = await visitor.get(f"/login?token={token}")
    assert "You are signed in." in page
    assert token not in page
    again = Browser(visitor.server)
    try:
        refused = await again.get(f"/login?token={token}", status=404)
        assert "expired or was already used" in refused
    finally:
        await again.close()
    assert await feed_status(visitor, feed) == 200


async def test_new_calendar_link_replaces_the_old_one(
    world: BotWorld, firm: Company, visitor: Browser
) -> None:
    nadia = await member(world, firm, AppRole.head_office_admin, None, "Nadia")
    first = found(CALENDAR, await nadia.send("/dashboard"))

    later = await nadia.send("/dashboard")
    assert CALENDAR.search(later) is None
    assert "Your calendar link was made on" in later
    assert "press New calendar link" in later
    assert found(LOGIN, later)

    answer = await nadia.press_labelled("New calendar link")
    assert "New calendar link made; the old one no longer works." in nadia.everything_said()
    assert answer.startswith("📅 Your new private calendar feed")
    second = found(CALENDAR, answer)
    assert second != first
    assert await feed_status(visitor, first) == 404
    assert await feed_status(visitor, second) == 200


async def test_an_https_base_adds_the_web_app_button(world: BotWorld, firm: Company) -> None:
    world.settings = world.settings.model_copy(update={"web_base_url": "https://intrex.example/"})
    world.restart()
    rahim = await member(world, firm, AppRole.operator, firm.dhaka, "Rahim")
    reply = await rahim.send("/dashboard")
    assert "https://intrex.example/app/login?token=" in reply
    assert "needs an HTTPS" not in reply
    (web_app,) = [button for button in keyboard(rahim) if "web_app" in button]
    assert web_app["web_app"] == {"url": "https://intrex.example/app/telegram"}


async def test_it_answers_in_the_persons_language(world: BotWorld, firm: Company) -> None:
    mina = await member(world, firm, AppRole.operator, firm.dhaka, "Mina", language_code="bn")
    reply = await mina.send("/dashboard")
    bn = texts_for("bn")
    heading = bn.gettext("<b>Intrex dashboard</b>")
    assert heading != "<b>Intrex dashboard</b>"
    assert reply.startswith(heading)
    assert found(LOGIN, reply)


async def test_help_lists_dashboard(world: BotWorld, firm: Company) -> None:
    rahim = await member(world, firm, AppRole.operator, firm.dhaka, "Rahim")
    assert "/dashboard: the web dashboard" in await rahim.send("/help")
