"""One router per feature; `all_routers` builds them in the order they must match."""

from aiogram import Router

from bot.routers import admin, alerts, domains, fallback, flows, linking, obligations


def all_routers() -> list[Router]:
    """Commands and buttons, then replies a waiting conversation expects, then the rest."""
    return [
        linking.build_router(),
        obligations.build_router(),
        alerts.build_router(),
        domains.build_router(),
        admin.build_router(),
        flows.build_router(),
        fallback.build_router(),
    ]
