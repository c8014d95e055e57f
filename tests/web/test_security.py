"""The dashboard's defences over real HTTP, without a browser (SPEC §9).

Telegram's initData is built here exactly as Telegram signs it (the bot token through
HMAC-SHA256 under "WebAppData", then the sorted data-check string); the login link as
`/dashboard` issues it. The signed-in page used is the calendar feed page (`/calendar/feed`):
any page behind the session would do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import aiohttp
import pytest
from markupsafe import escape
from sqlalchemy import func, select

from core.clock import utc_now
from core.dashboard.auth import issue_login_link
from core.dashboard.models import WebSession
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import (
    ErrorCode,
    IntrexError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.i18n.errors import render_error
from core.tenancy.models import User
from core.tenancy.people import set_person_active
from core.tenancy.scope import ActorUnits, console_unit
from tests.companies import Company, company, obligation, person
from tests.web.conftest import BOT_TOKEN, Browser, DashboardServer
from web.app import create_dashboard

PAGE = "/calendar/feed"
COOKIE = "intrex_session"
TELEGRAM_FRAMES = "https://web.telegram.org"


@dataclass
class Firm:
    company: Company
    admin: ActorUnits
    telegram_id: int


@pytest.fixture
async def firm(db: Database) -> Firm:
    acme = await company(db)
    telegram_id = random.randint(10**9, 2 * 10**9)
    admin = await person(
        db, acme.tenant, AppRole.head_office_admin, name="Nadia", telegram_user_id=telegram_id
    )
    return Firm(acme, admin, telegram_id)


@pytest.fixture
async def raw(dashboard: DashboardServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no cookies: every request says exactly what it sends."""
    async with aiohttp.ClientSession(
        base_url=dashboard.base_url, cookie_jar=aiohttp.DummyCookieJar()
    ) as client:
        yield client


def init_data(
    telegram_id: int, *, bot_token: str = BOT_TOKEN, signed_at: float | None = None
) -> str:
    """initData as Telegram's Web App hands it to the page, signed for `bot_token`."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(
            {"id": telegram_id, "first_name": "Nadia", "language_code": "en"},
            separators=(",", ":"),
        ),
        "auth_date": str(int(signed_at if signed_at is not None else time.time())),
    }
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def refusal(error: IntrexError) -> str:
    return str(escape(render_error(error, "en")))


def session_cookie(response: aiohttp.ClientResponse) -> str | None:
    for header in response.headers.getall("Set-Cookie", []):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if name == COOKIE and value and value != '""':
            return value
    return None


async def link_token(units: ActorUnits, *, now: datetime | None = None) -> str:
    async with units() as (session, actor):
        return await issue_login_link(session, actor, now=now)


async def sign_in_by_link(raw: aiohttp.ClientSession, units: ActorUnits) -> str:
    """The session cookie a login link gives."""
    async with raw.get(f"/app/login?token={await link_token(units)}") as response:
        assert response.status == 200
        cookie = session_cookie(response)
    assert cookie is not None
    return cookie


async def page(raw: aiohttp.ClientSession, cookie: str, path: str = PAGE) -> aiohttp.ClientResponse:
    async with raw.get(f"/app{path}", headers={"Cookie": f"{COOKIE}={cookie}"}) as response:
        await response.read()
        return response


async def sessions_of(db: Database, units: ActorUnits) -> int:
    async with db.tenant_uow(units.tenant_id) as session:
        count = await session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == units.user_id)
        )
    return count or 0


# Telegram's initData


async def test_fresh_init_data_of_a_linked_user_signs_in_framed_for_telegram(
    firm: Firm, raw: aiohttp.ClientSession
) -> None:
    async with raw.post("/app/auth/telegram", data={"initData": init_data(firm.telegram_id)}) as r:
        assert r.status == 200
        assert "X-Frame-Options" not in r.headers
        cookie = session_cookie(r)
    assert cookie is not None
    response = await page(raw, cookie)
    assert response.status == 200
    assert "X-Frame-Options" not in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {TELEGRAM_FRAMES}" in csp

    by_link = await page(raw, await sign_in_by_link(raw, firm.admin))
    assert by_link.status == 200
    assert by_link.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in by_link.headers["Content-Security-Policy"]
    assert TELEGRAM_FRAMES not in by_link.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "case",
    ["forged", "other bot", "stale", "no hash", "not linked", "tampered user"],
)
async def test_bad_init_data_is_refused(
    db: Database, firm: Firm, raw: aiohttp.ClientSession, case: str
) -> None:
    sessions_before = await sessions_of(db, firm.admin)
    expected: IntrexError = ValidationError(ErrorCode.sign_in_invalid)
    status = 400
    if case == "forged":
        data = re.sub(r"hash=[0-9a-f]+", "hash=" + "0" * 64, init_data(firm.telegram_id))
    elif case == "other bot":
        data = init_data(firm.telegram_id, bot_token="654321:ANOTHER-bot-token")
    elif case == "stale":
        data = init_data(firm.telegram_id, signed_at=time.time() - 25 * 3600)
        expected = ValidationError(ErrorCode.sign_in_stale)
    elif case == "no hash":
        data = re.sub(r"&?hash=[0-9a-f]+", "", init_data(firm.telegram_id))
    elif case == "not linked":
        data = init_data(firm.telegram_id + 1)
        expected, status = PermissionDeniedError(ErrorCode.sign_in_not_linked), 403
    else:
        signed = init_data(firm.telegram_id)
        data = signed.replace(
            f"%22id%22%3A{firm.telegram_id}", f"%22id%22%3A{firm.telegram_id + 1}"
        )
        assert data != signed
    async with raw.post("/app/auth/telegram", data={"initData": data}) as response:
        text = await response.text()
        assert response.status == status, text[:500]
        assert session_cookie(response) is None
    assert refusal(expected) in text
    assert await sessions_of(db, firm.admin) == sessions_before


async def test_init_data_of_a_day_less_a_minute_is_still_accepted(
    firm: Firm, raw: aiohttp.ClientSession
) -> None:
    data = init_data(firm.telegram_id, signed_at=time.time() - 24 * 3600 + 60)
    async with raw.post("/app/auth/telegram", data={"initData": data}) as response:
        assert response.status == 200
        assert session_cookie(response) is not None


# Login links


async def test_a_login_link_works_once(firm: Firm, raw: aiohttp.ClientSession) -> None:
    token = await link_token(firm.admin)
    async with raw.get(f"/app/login?token={token}") as response:
        text = await response.text()
        assert response.status == 200
        assert session_cookie(response) is not None
    assert token not in text
    async with raw.get(f"/app/login?token={token}") as response:
        text = await response.text()
        assert response.status == 404
        assert session_cookie(response) is None
    assert refusal(NotFoundError(ErrorCode.login_link_invalid)) in text


async def test_an_expired_login_link_is_refused(firm: Firm, raw: aiohttp.ClientSession) -> None:
    token = await link_token(firm.admin, now=utc_now() - timedelta(minutes=11))
    async with raw.get(f"/app/login?token={token}") as response:
        assert response.status == 404
        assert session_cookie(response) is None
    fresh = await link_token(firm.admin, now=utc_now() - timedelta(minutes=9))
    async with raw.get(f"/app/login?token={fresh}") as response:
        assert response.status == 200


async def test_the_login_token_is_not_in_the_pages_after_sign_in(
    firm: Firm, browser: Browser
) -> None:
    token = await link_token(firm.admin)
    landing = await browser.get(f"/login?token={token}")
    assert token not in landing
    assert token not in await browser.get(PAGE)


# The session cookie


async def test_the_session_cookie_is_httponly_strict_and_under_app(
    firm: Firm, raw: aiohttp.ClientSession
) -> None:
    async with raw.get(f"/app/login?token={await link_token(firm.admin)}") as response:
        (header,) = [h for h in response.headers.getall("Set-Cookie") if h.startswith(COOKIE)]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/app"
    assert attributes["max-age"] == "Max-Age=28800"


async def test_a_tampered_cookie_is_refused(
    db: Database, firm: Firm, raw: aiohttp.ClientSession
) -> None:
    cookie = await sign_in_by_link(raw, firm.admin)
    assert (await page(raw, cookie)).status == 200
    tenant, token, signature = cookie.split(".")
    other = await company(db)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for forged in (
        f"{tenant}.{flipped}.{signature}",
        f"{other.tenant.id.hex}.{token}.{signature}",
        f"{tenant}.{token}.{signature[:-2]}",
        f"{tenant}.{token}",
        "garbage",
    ):
        response = await page(raw, forged)
        assert response.status == 401, forged
    assert (await page(raw, cookie)).status == 200


# CSRF


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    db: Database, firm: Firm, raw: aiohttp.ClientSession
) -> None:
    cookie = await sign_in_by_link(raw, firm.admin)
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    for fields in ({"language": "bn"}, {"language": "bn", "csrf_token": "not-the-token"}):
        async with raw.post("/app/language", data=fields, headers=headers) as response:
            text = await response.text()
            assert response.status == 403
        assert refusal(PermissionDeniedError(ErrorCode.csrf_invalid)) in text
    async with raw.post("/app/logout", data={}, headers=headers) as response:
        assert response.status == 403
    async with db.tenant_uow(firm.company.tenant.id) as session:
        assert (
            await session.scalar(select(User.language).where(User.id == firm.admin.user_id)) is None
        )
    assert await sessions_of(db, firm.admin) == 1
    assert (await page(raw, cookie)).status == 200


async def test_with_the_csrf_token_the_same_posts_work(
    db: Database, firm: Firm, browser: Browser
) -> None:
    async with firm.admin() as (session, actor):
        token = await issue_login_link(session, actor)
    await browser.get(f"/login?token={token}")
    await browser.get(PAGE)
    await browser.post("/language", {"language": "bn", "next": "/app" + PAGE})
    async with db.tenant_uow(firm.company.tenant.id) as session:
        assert (
            await session.scalar(select(User.language).where(User.id == firm.admin.user_id)) == "bn"
        )
    await browser.post("/logout")
    assert await sessions_of(db, firm.admin) == 0
    await browser.get(PAGE, status=401)


# A disabled person


async def test_a_disabled_persons_cookie_stops_working_at_the_next_request(
    db: Database, firm: Firm, raw: aiohttp.ClientSession
) -> None:
    operator = await person(db, firm.company.tenant, AppRole.operator, [firm.company.dhaka])
    cookie = await sign_in_by_link(raw, operator)
    assert (await page(raw, cookie)).status == 200
    async with console_unit(db, firm.company.tenant.id) as (session, actor):
        await set_person_active(session, actor, operator.user_id, False)
    refused = await page(raw, cookie)
    assert refused.status == 401
    assert await sessions_of(db, operator) == 0
    async with console_unit(db, firm.company.tenant.id) as (session, actor):
        await set_person_active(session, actor, operator.user_id, True)
    assert (await page(raw, cookie)).status == 401


# Headers on every page


async def test_every_answer_carries_the_content_security_policy(
    firm: Firm, raw: aiohttp.ClientSession
) -> None:
    cookie = await sign_in_by_link(raw, firm.admin)
    signed_in = {"Cookie": f"{COOKIE}={cookie}"}
    for path, headers, status in (
        (PAGE, signed_in, 200),
        ("/no-such-page", signed_in, 404),
        (PAGE, {}, 401),
        ("/no-such-page", {}, 401),
        ("/login?token=nope", {}, 404),
        ("/telegram", {}, 200),
        ("/calendar/unknown.ics", {}, 404),
        ("/static/app.css", {}, 200),
    ):
        async with raw.get(f"/app{path}", headers=headers) as response:
            await response.read()
            assert response.status == status, path
            csp = response.headers.get("Content-Security-Policy", "")
            assert "default-src 'none'" in csp, path
            assert "script-src 'self' https://telegram.org" in csp, path
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            assert response.headers["Referrer-Policy"] == "no-referrer", path


# Another tenant's rows


def obligation_page_exists(dashboard: DashboardServer) -> bool:
    app = create_dashboard(dashboard.db, dashboard.settings, dashboard.storage, None)
    return any(
        resource.canonical.startswith("/obligations/{") for resource in app.router.resources()
    )


async def test_another_tenants_obligation_answers_404(
    db: Database, firm: Firm, raw: aiohttp.ClientSession, dashboard: DashboardServer
) -> None:
    if not obligation_page_exists(dashboard):
        pytest.skip("the obligation page (GET /app/obligations/{id}) is not in the dashboard yet")
    mine = await obligation(
        db, firm.company, firm.company.dhaka, "Fire drill", due_in_days=3, proof=False
    )
    stranger = await company(db)
    theirs = await obligation(
        db, stranger, stranger.dhaka, "Fire drill", due_in_days=3, proof=False
    )
    cookie = await sign_in_by_link(raw, firm.admin)
    assert (await page(raw, cookie, f"/obligations/{mine}")).status == 200
    assert (await page(raw, cookie, f"/obligations/{theirs}")).status == 404
    assert (await page(raw, cookie, f"/obligations/{uuid.uuid4()}")).status == 404

    manager = await person(
        db, firm.company.tenant, AppRole.branch_manager, [firm.company.chattogram]
    )
    managers = await sign_in_by_link(raw, manager)
    assert (await page(raw, managers, f"/obligations/{mine}")).status == 404
