"""The private calendar feed over real HTTP: `GET /app/calendar/<token>.ics` parsed with the
`icalendar` package, and the page that makes a new address.

The company: DHK-01 has an overdue item, one due in 5 days and one completed; CTG-02 one due
in 10 days. Head office's feed lists the three open ones, the Dhaka manager's the two of
Dhaka, nobody's the completed one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from icalendar import Calendar, Component
from sqlalchemy import func, insert, select

from core.dashboard.auth import issue_login_link
from core.dashboard.calendar import STREAM_BATCH, issue_calendar_token
from core.dashboard.models import CalendarFeed
from core.db.enums import AppRole
from core.db.session import Database
from core.i18n import texts_for
from core.obligations.actions import complete_obligation
from core.obligations.models import ObligationInstance
from core.tenancy.language import set_language
from core.tenancy.people import set_person_active
from core.tenancy.scope import ActorUnits, console_unit
from tests.companies import Company, company, obligation, person
from tests.web.conftest import Browser, DashboardServer

FEED_URL = re.compile(r'data-testid="calendar-url">(http://[^<]+)</code>')


@dataclass
class Shops:
    firm: Company
    overdue: uuid.UUID
    soon: uuid.UUID
    done: uuid.UUID
    chattogram: uuid.UUID
    today: date


@pytest.fixture
async def shops(db: Database) -> Shops:
    firm = await company(db)
    overdue = await obligation(db, firm, firm.dhaka, "Fire drill", due_in_days=-3, proof=False)
    soon = await obligation(db, firm, firm.dhaka, "Trade licence", due_in_days=5, proof=False)
    done = await obligation(db, firm, firm.dhaka, "VAT return", due_in_days=2, proof=False)
    far = await obligation(db, firm, firm.chattogram, "Sprinklers", due_in_days=10, proof=False)
    async with console_unit(db, firm.tenant.id) as (session, actor):
        await complete_obligation(session, actor, done)
        today = actor.today
    return Shops(firm, overdue, soon, done, far, today)


async def new_feed(units: ActorUnits) -> str:
    async with units() as (session, actor):
        return await issue_calendar_token(session, actor)


async def signed_in(browser: Browser, units: ActorUnits) -> None:
    """Sign in with a login link (the overview is not needed on the way)."""
    async with units() as (session, actor):
        token = await issue_login_link(session, actor)
    await browser.get(f"/login?token={token}")


async def fetch(browser: Browser, token: str) -> tuple[int, bytes, dict[str, str]]:
    body, response = await browser.get_bytes(f"/calendar/{token}.ics")
    return response.status, body, dict(response.headers)


def events(body: bytes) -> dict[str, Component]:
    calendar = Calendar.from_ical(body)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def uid(obligation_id: uuid.UUID) -> str:
    return f"{obligation_id}@127.0.0.1"


async def test_head_office_feed_lists_every_open_obligation(
    db: Database, shops: Shops, browser: Browser, dashboard: DashboardServer
) -> None:
    nadia = await person(db, shops.firm.tenant, AppRole.head_office_admin, name="Nadia")
    status, body, headers = await fetch(browser, await new_feed(nadia))
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert headers["Cache-Control"].startswith("private")
    found = events(body)
    assert set(found) == {uid(shops.overdue), uid(shops.soon), uid(shops.chattogram)}

    drill = found[uid(shops.overdue)]
    assert str(drill["SUMMARY"]) == "[DHK-01] Fire drill"
    assert drill.decoded("DTSTART") == shops.today - timedelta(days=3)
    assert drill.decoded("DTEND") == shops.today - timedelta(days=2)
    link = f"{dashboard.settings.dashboard_base_url}/app/obligations/{shops.overdue}"
    assert str(drill["DESCRIPTION"]).splitlines() == [
        "Category: fire safety",
        "Severity: high",
        "Status: overdue",
        f"Open in the Intrex dashboard: {link}",
    ]
    assert str(drill["URL"]) == link
    (alarm,) = drill.walk("VALARM")
    assert alarm.decoded("TRIGGER") == timedelta(days=-30)
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert "DTSTAMP" in drill
    assert str(found[uid(shops.soon)]["DESCRIPTION"]).splitlines()[2] == "Status: upcoming"


async def test_a_branch_manager_sees_only_their_branch_in_their_language(
    db: Database, shops: Shops, browser: Browser
) -> None:
    jamal = await person(
        db, shops.firm.tenant, AppRole.branch_manager, [shops.firm.dhaka], name="Jamal"
    )
    async with jamal() as (session, actor):
        await set_language(session, actor, "bn")
    status, body, _ = await fetch(browser, await new_feed(jamal))
    assert status == 200
    found = events(body)
    assert set(found) == {uid(shops.overdue), uid(shops.soon)}
    bn = texts_for("bn")
    lines = str(found[uid(shops.soon)]["DESCRIPTION"]).splitlines()
    assert lines[0] == bn.gettext("Category: {category}").format(category=bn.gettext("fire safety"))
    assert lines[0] != "Category: fire safety"
    assert str(Calendar.from_ical(body)["X-WR-CALNAME"]) == bn.gettext("Intrex obligations")


async def test_an_operator_of_no_branch_gets_an_empty_calendar(
    db: Database, shops: Shops, browser: Browser
) -> None:
    nobody = await person(db, shops.firm.tenant, AppRole.operator, [], name="Nobody")
    status, body, _ = await fetch(browser, await new_feed(nobody))
    assert status == 200
    assert events(body) == {}


async def test_a_feed_larger_than_a_batch_is_streamed_whole(
    db: Database, shops: Shops, browser: Browser
) -> None:
    """More open obligations than one batch of the cursor: the answer is chunked (sent as it
    is read, not built whole), carries the dashboard's security headers, and holds them all."""
    extra = STREAM_BATCH * 2 + 345
    async with db.system_uow() as session:
        source = await session.get_one(ObligationInstance, shops.chattogram)
        await session.execute(
            insert(ObligationInstance),
            [
                {
                    "tenant_id": source.tenant_id,
                    "branch_id": source.branch_id,
                    "template_id": source.template_id,
                    "category": source.category,
                    "title": f"Monthly check {number}",
                    "severity": source.severity,
                    "due_at": shops.today + timedelta(days=20 + number),
                    "series_date": shops.today + timedelta(days=20 + number),
                }
                for number in range(extra)
            ],
        )
    nadia = await person(db, shops.firm.tenant, AppRole.head_office_admin, name="Nadia")
    status, body, headers = await fetch(browser, await new_feed(nadia))
    assert status == 200
    assert headers["Transfer-Encoding"] == "chunked"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    found = events(body)
    assert len(found) == 3 + extra
    assert str(found[uid(shops.overdue)]["SUMMARY"]) == "[DHK-01] Fire drill"
    assert body.count(b"BEGIN:VCALENDAR") == 1
    assert body.endswith(b"END:VEVENT\r\nEND:VCALENDAR\r\n")


async def test_a_new_token_revokes_the_old_and_unknown_ones_are_404(
    db: Database, shops: Shops, browser: Browser
) -> None:
    nadia = await person(db, shops.firm.tenant, AppRole.head_office_admin, name="Nadia")
    old = await new_feed(nadia)
    assert (await fetch(browser, old))[0] == 200
    new = await new_feed(nadia)
    assert (await fetch(browser, old))[0] == 404
    assert (await fetch(browser, new))[0] == 200
    assert (await fetch(browser, "not-a-token"))[0] == 404
    status, body, _ = await fetch(browser, "x" * 200)
    assert status == 404
    assert "No such calendar feed" in body.decode()


async def test_a_disabled_persons_feed_is_404(db: Database, shops: Shops, browser: Browser) -> None:
    rahim = await person(db, shops.firm.tenant, AppRole.operator, [shops.firm.dhaka], name="Rahim")
    token = await new_feed(rahim)
    assert (await fetch(browser, token))[0] == 200
    async with console_unit(db, shops.firm.tenant.id) as (session, actor):
        await set_person_active(session, actor, rahim.user_id, False)
    assert (await fetch(browser, token))[0] == 404


async def test_the_page_makes_a_new_address_and_shows_it_once(
    db: Database, shops: Shops, browser: Browser
) -> None:
    jamal = await person(
        db, shops.firm.tenant, AppRole.branch_manager, [shops.firm.dhaka], name="Jamal"
    )
    await signed_in(browser, jamal)
    page = await browser.get("/calendar/feed")
    assert "You have no calendar address yet." in page
    page = await browser.post("/calendar/new")
    found = FEED_URL.search(page)
    assert found is not None
    first = found.group(1).rsplit("/", 1)[1].removesuffix(".ics")
    assert set(events((await fetch(browser, first))[1])) == {uid(shops.overdue), uid(shops.soon)}

    page = await browser.get("/calendar/feed")
    assert "Your calendar address was made on" in page
    assert first not in page
    page = await browser.post("/calendar/new")
    found = FEED_URL.search(page)
    assert found is not None
    second = found.group(1).rsplit("/", 1)[1].removesuffix(".ics")
    assert second != first
    assert (await fetch(browser, first))[0] == 404
    assert (await fetch(browser, second))[0] == 200


async def test_making_a_new_address_needs_the_csrf_token(
    db: Database, shops: Shops, browser: Browser
) -> None:
    jamal = await person(
        db, shops.firm.tenant, AppRole.branch_manager, [shops.firm.dhaka], name="Jamal"
    )
    await signed_in(browser, jamal)
    async with browser.http.post(browser.url("/calendar/new"), data={}) as response:
        assert response.status == 403
    async with jamal() as (session, _):
        assert await session.scalar(select(func.count()).select_from(CalendarFeed)) == 0
