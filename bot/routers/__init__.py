"""One router per feature; `all_routers` builds them in the order they must match."""

from aiogram import Router

from bot.routers import (
    admin,
    alerts,
    audit,
    dashboard,
    domains,
    errors,
    exports,
    fallback,
    flows,
    groups,
    imports,
    language,
    linking,
    obligations,
    people,
    report,
    templates,
)


def all_routers() -> list[Router]:
    """Errors first (they see every failure), commands and buttons, then the replies a
    waiting conversation expects, then the rest."""
    return [
        errors.build_router(),
        linking.build_router(),
        groups.build_router(),
        obligations.build_router(),
        alerts.build_router(),
        domains.build_router(),
        admin.build_router(),
        people.build_router(),
        templates.build_router(),
        exports.build_router(),
        audit.build_router(),
        report.build_router(),
        dashboard.build_router(),
        language.build_router(),
        imports.build_router(),
        flows.build_router(),
        fallback.build_router(),
    ]
