"""`GET /app/`: the company (or the manager's branches) at a glance: four cards and the
branches ranked by health, worst first (the report's figures: `core.reports.service`)."""

from __future__ import annotations

from aiohttp import web

from core.dashboard.obligations import ObligationFilters, browse_obligations
from core.reports.policy import can_view_report
from core.reports.service import build_overview
from web.app import actor_of, db_session_of, render

SHOWN_BRANCHES = 50
"""The worst branches listed at first; `?all=1` lists every one."""


async def overview(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session = db_session_of(request)
    if not can_view_report(actor):
        mine = await browse_obligations(session, actor, ObligationFilters(window="week"))
        return render(
            request, "overview.html", {"report": None, "items": mine.items, "owners": mine.owners}
        )
    report = await build_overview(session, actor)
    everything = request.query.get("all") == "1"
    branches = report.branches if everything else report.branches[:SHOWN_BRANCHES]
    return render(
        request,
        "overview.html",
        {
            "report": report,
            "branches": branches,
            "hidden": len(report.branches) - len(branches),
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", overview, name="overview")
