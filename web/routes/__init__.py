"""The dashboard's routes: one module per page family, each adding its own (`add_routes`)."""

from __future__ import annotations

from aiohttp import web

from web.app import HERE
from web.routes import auth, calendar_feed, obligations, oversight, overview


def add_all(app: web.Application) -> None:
    app.router.add_static("/static", HERE / "static", name="static")
    for module in (auth, calendar_feed, overview, obligations, oversight):
        module.add_routes(app)
