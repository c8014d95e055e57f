"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright is told where the system's Chromium is (`executable_path`), so nothing is
downloaded; `.ci/run` installs the `chromium` package where it is missing. Without a
Chromium on the machine these tests skip and say so.

One visit signs in by link (the overview arrives by the page's own navigation, since the
cookie is SameSite=Strict), filters the obligations, opens one and downloads its proof,
acknowledges an alert with a note, and switches to Bengali; every main page is
photographed at 375×812 and 1280×800, and none may scroll sideways (its scroll width is
checked, not the picture).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser as Chromium
from playwright.async_api import Page, async_playwright
from sqlalchemy import select

from core.dashboard.auth import issue_login_link
from core.db.enums import AppRole
from core.notify.models import Acknowledgement, NotificationDelivery
from tests.bot.conftest import (  # the bot's world: a real Bot talking to the stand-in
    BotWorld,
    bot_settings,
    deliver,
    pki,
    ssl_alert,
    stub,
    telegram_alerts,
    tls_servers,
    world,
)
from tests.companies import PDF, company, obligation, person
from tests.core.obligations.helpers import upload_proof
from tests.web.conftest import DashboardServer, running_dashboard
from tests.web.test_pages import LIMITS

__all__ = ["bot_settings", "pki", "stub", "tls_servers", "world"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here: install Debian's chromium package (.ci/run does)"
)
SIZES = ((375, 812), (1280, 800))


@pytest.fixture
async def chromium() -> AsyncIterator[Chromium]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


async def no_sideways_scroll(page: Page, shots: Path, name: str) -> None:
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        scroll, inner = await page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll <= inner, f"{name} scrolls sideways at {width}px: {scroll} > {inner}"


async def test_a_visit_in_chromium(world: BotWorld, chromium: Chromium, tmp_path: Path) -> None:
    async with running_dashboard(world.db, tmp_path) as dashboard:
        await visit(world, dashboard, chromium, tmp_path)


async def visit(
    world: BotWorld, dashboard: DashboardServer, chromium: Chromium, tmp_path: Path
) -> None:
    db = world.db
    acme = await company(db)
    dhaka = await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=-2, proof=True)
    ctg = await obligation(db, acme, acme.chattogram, "Trade licence", due_in_days=4, proof=False)
    admin = await person(db, acme.tenant, AppRole.head_office_admin, name="Rahima Akter")
    await upload_proof(admin, dhaka, "fire-drill.pdf", PDF, dashboard.storage, LIMITS)
    manager_chat = 7_700_000 + uuid.uuid4().int % 100_000
    await person(
        db, acme.tenant, AppRole.branch_manager, [acme.dhaka], telegram_user_id=manager_chat
    )
    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    event = await ssl_alert(world, acme, f"browser:{uuid.uuid4().hex}")
    await deliver(world, box)
    assert len(world.stub.sent(chat_id=manager_chat)) == 1
    async with admin() as (session, actor):
        token = await issue_login_link(session, actor)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    base = dashboard.base_url + "/app"
    context = await chromium.new_context(accept_downloads=True, locale="en-GB")
    page = await context.new_page()

    await page.goto(f"{base}/login?token={token}")
    await page.wait_for_url(f"{base}/")
    assert await page.get_by_test_id("card-overdue").inner_text() != ""
    assert await page.get_by_test_id("branch-row").count() == 2
    await no_sideways_scroll(page, shots, "overview")

    await page.goto(f"{base}/obligations")
    await page.select_option("select[name=branch]", "CTG-02")
    await page.get_by_test_id("filters").locator("button[type=submit]").click()
    await page.wait_for_url("**/obligations?branch=CTG-02**")
    rows = page.get_by_test_id("obligation-row")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-id") == str(ctg)
    await no_sideways_scroll(page, shots, "obligations")

    await page.goto(f"{base}/obligations/{dhaka}")
    async with page.expect_download() as download_info:
        await page.get_by_test_id("document-link").click()
    download = await download_info.value
    assert download.suggested_filename == "fire-drill.pdf"
    assert await asyncio.to_thread(Path(await download.path()).read_bytes) == PDF
    await no_sideways_scroll(page, shots, "obligation")

    await page.goto(f"{base}/alerts")
    await page.get_by_test_id("ack-note").fill("Renewing the certificate today")
    await page.get_by_test_id("ack-submit").click()
    await page.get_by_test_id("acknowledged").wait_for()
    async with db.tenant_uow(acme.tenant.id) as session:
        ack = await session.scalar(
            select(Acknowledgement).where(Acknowledgement.notification_event_id == event.id)
        )
    assert ack is not None
    assert ack.ack_note == "Renewing the certificate today"
    await deliver(world, box)  # the worker's round edits every copy
    [edit] = world.stub.sent("editMessageText", chat_id=manager_chat)
    async with db.tenant_uow(acme.tenant.id) as session:
        copy = await session.scalar(
            select(NotificationDelivery.telegram_message_id).where(
                NotificationDelivery.telegram_chat_id == manager_chat
            )
        )
    assert int(edit.params["message_id"]) == copy
    assert "Rahima Akter" in edit.params["text"]
    await no_sideways_scroll(page, shots, "alerts")

    for name in ("calendar", "certificates", "audit", "people"):
        await page.goto(f"{base}/{name}")
        await no_sideways_scroll(page, shots, name)

    await page.goto(f"{base}/obligations")
    await page.get_by_test_id("language-bn").click()
    await page.wait_for_url("**/obligations")
    assert await page.locator("h1").inner_text() == "বাধ্যবাধকতা"
    assert await page.locator("html").get_attribute("lang") == "bn"
    await no_sideways_scroll(page, shots, "obligations-bn")
    await context.close()
