"""The private calendar feed and the page that makes a new one (SPEC §9).

- `GET /app/calendar/{token}.ics`: public (a calendar application sends no cookie); the
  token is the proof. iCalendar, one all-day event per open obligation in the owner's
  scope (`core.dashboard.calendar.calendar_feed`); unknown or replaced: 404.
- `GET /app/calendar/feed`: whether the signed-in person has a feed and since when (the
  URL itself cannot be shown again: only its hash is kept).
- `POST /app/calendar/new` (CSRF): a new token, whose URL is shown on this one answer; the
  old URL stops working.
"""

from __future__ import annotations

from aiohttp import web

from core.dashboard.calendar import calendar_made_at, issue_calendar_token, open_calendar_feed
from core.dashboard.links import calendar_url
from web.app import STREAMING, actor_of, dashboard_of, db_session_of, public, render

FEED_CACHE = "private, max-age=300"
"""Calendar applications poll; five minutes keeps a shared cache out and a poll cheap."""


@public
async def feed(request: web.Request) -> web.StreamResponse:
    """Streamed as the cursor reads it (`core.dashboard.calendar.calendar_chunks`): a
    feed of every open obligation of a large company never sits whole in memory."""
    settings = dashboard_of(request).settings
    async with open_calendar_feed(
        dashboard_of(request).db,
        request.match_info["token"],
        base_url=settings.dashboard_base_url,
        default_language=settings.default_language,
    ) as chunks:
        response = web.StreamResponse(headers={"Cache-Control": FEED_CACHE})
        response.content_type = "text/calendar"
        response.charset = "utf-8"
        await response.prepare(request)
        request[STREAMING] = True
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    return response


async def feed_page(request: web.Request) -> web.Response:
    made_at = await calendar_made_at(db_session_of(request), actor_of(request))
    return render(request, "calendar_feed.html", {"made_at": made_at, "feed_url": None})


async def new_feed(request: web.Request) -> web.Response:
    actor = actor_of(request)
    token = await issue_calendar_token(db_session_of(request), actor)
    base = dashboard_of(request).settings.dashboard_base_url
    return render(
        request,
        "calendar_feed.html",
        {"made_at": None, "feed_url": calendar_url(base, token)},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/calendar/{token:[A-Za-z0-9_-]+}.ics", feed, name="calendar_feed")
    app.router.add_get("/calendar/feed", feed_page, name="calendar_feed_page")
    app.router.add_post("/calendar/new", new_feed, name="calendar_feed_new")
