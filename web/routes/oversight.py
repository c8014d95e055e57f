"""Certificates, alerts (with Acknowledge), the audit timeline and the people of the tenant
(SPEC §9): each the bot's own core read or service, under the same policy."""

from __future__ import annotations

import uuid
from datetime import date
from urllib.parse import urlencode

from aiohttp import web

from core.audit import wording
from core.audit.queries import AuditFilter, list_audit, parse_cursor, parse_entity
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError, ValidationError
from core.notify.ack import acknowledge
from core.notify.alerts import list_open_alerts
from core.notify.render import headline
from core.ssl.service import domain_history, list_domains
from core.tenancy.people import list_people
from core.tenancy.policy import can_view_people
from web.app import actor_of, db_session_of, redirect, render, texts_of, url

ALERTS_SHOWN = 100
PEOPLE_PAGE = 50


def _uuid(value: str, code: ErrorCode) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFoundError(code) from exc


async def certificates(request: web.Request) -> web.Response:
    domains = await list_domains(db_session_of(request), actor_of(request))
    return render(request, "certificates.html", {"domains": domains})


async def certificate(request: web.Request) -> web.Response:
    domain_id = _uuid(request.match_info["id"], ErrorCode.domain_not_found)
    state, checks = await domain_history(db_session_of(request), actor_of(request), domain_id)
    return render(request, "certificate.html", {"state": state, "checks": checks})


async def alerts(request: web.Request) -> web.Response:
    found = await list_open_alerts(db_session_of(request), actor_of(request), limit=ALERTS_SHOWN)
    texts = texts_of(request)
    rows = [(alert, headline(texts, alert.event_type.value, alert.payload)) for alert in found]
    return render(
        request,
        "alerts.html",
        {"alerts": rows, "acknowledged": request.query.get("acknowledged") == "1"},
    )


async def acknowledge_alert(request: web.Request) -> web.Response:
    event_id = _uuid(request.match_info["id"], ErrorCode.alert_not_found)
    form = await request.post()
    note = form.get("note")
    await acknowledge(
        db_session_of(request), actor_of(request), event_id, note if isinstance(note, str) else None
    )
    return redirect(url("/alerts?acknowledged=1"))


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(ErrorCode.due_date_format, value=value[:20]) from exc


async def audit(request: web.Request) -> web.Response:
    query = request.query
    entity_type, entity_id = parse_entity(query["entity"]) if query.get("entity") else (None, None)
    filters = AuditFilter(
        entity_type=entity_type,
        entity_id=entity_id,
        action=query.get("action") or None,
        since=_day(query.get("from")),
        until=_day(query.get("to")),
    )
    before = parse_cursor(query["before"]) if query.get("before") else None
    after = parse_cursor(query["after"]) if query.get("after") else None
    page = await list_audit(
        db_session_of(request), actor_of(request), filters, limit=50, before=before, after=after
    )
    kept = urlencode({k: query[k] for k in ("entity", "action", "from", "to") if query.get(k)})
    return render(
        request,
        "audit.html",
        {"page": page, "wording": wording, "query": query, "kept": kept},
    )


async def people(request: web.Request) -> web.Response:
    actor = actor_of(request)
    if not can_view_people(actor):
        raise PermissionDeniedError(ErrorCode.managers_only)
    number = request.query.get("page", "0")
    page = await list_people(
        db_session_of(request),
        actor,
        page=int(number) if number.isdigit() and len(number) < 6 else 0,
        page_size=PEOPLE_PAGE,
    )
    return render(request, "people.html", {"people": page})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/certificates", certificates, name="certificates")
    app.router.add_get("/certificates/{id}", certificate, name="certificate")
    app.router.add_get("/alerts", alerts, name="alerts")
    app.router.add_post("/alerts/{id}/acknowledge", acknowledge_alert, name="acknowledge")
    app.router.add_get("/audit", audit, name="audit")
    app.router.add_get("/people", people, name="people")
