"""Obligations: the filtered list, the month calendar, one obligation with its history and
its proof files (SPEC §9). Scope and status rules are core's (`core.dashboard.obligations`,
`core.obligations.queries.obligation_details`, `core.obligations.documents.read_document`)."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote, urlencode

from aiohttp import web

from core.audit import wording
from core.audit.policy import can_read_audit
from core.audit.queries import AuditFilter, list_audit
from core.dashboard.obligations import (
    STATUS_CHOICES,
    WINDOWS,
    ObligationFilters,
    browse_obligations,
    month_calendar,
    parse_month,
)
from core.db.enums import ObligationCategory, ObligationStatus
from core.errors import ErrorCode, NotFoundError
from core.obligations.documents import read_document
from core.obligations.queries import obligation_details
from web.app import actor_of, dashboard_of, db_session_of, render

FILTER_FIELDS = ("branch", "category", "status", "owner", "window")


def _uuid(value: str, code: ErrorCode) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFoundError(code) from exc


def _filters(request: web.Request) -> ObligationFilters:
    query = request.query
    page = query.get("page", "0")
    return ObligationFilters(
        branch=query.get("branch") or None,
        category=query.get("category") or None,
        status=query.get("status") or "open",
        owner=query.get("owner") or None,
        window=query.get("window") or "all",
        page=int(page) if page.isdigit() and len(page) < 6 else 0,
    )


async def obligations(request: web.Request) -> web.Response:
    filters = _filters(request)
    listing = await browse_obligations(db_session_of(request), actor_of(request), filters)
    kept = {name: request.query[name] for name in FILTER_FIELDS if request.query.get(name)}

    def page_link(page: int) -> str:
        return "?" + urlencode({**kept, "page": page})

    return render(
        request,
        "obligations.html",
        {
            "listing": listing,
            "items": listing.items,
            "owners": listing.owners,
            "filters": filters,
            "categories": list(ObligationCategory),
            "statuses": STATUS_CHOICES,
            "windows": WINDOWS,
            "status_enum": ObligationStatus,
            "previous_page": page_link(filters.page - 1) if filters.page > 0 else None,
            "next_page": page_link(filters.page + 1) if listing.has_more else None,
        },
    )


async def month(request: web.Request) -> web.Response:
    actor = actor_of(request)
    first = parse_month(request.query.get("month"), actor.today)
    branch = request.query.get("branch") or None
    shown = await month_calendar(db_session_of(request), actor, first, branch)
    return render(request, "calendar.html", {"calendar": shown, "branch": branch or ""})


async def obligation(request: web.Request) -> web.Response:
    actor = actor_of(request)
    session = db_session_of(request)
    instance_id = _uuid(request.match_info["id"], ErrorCode.obligation_not_found)
    details = await obligation_details(session, actor, instance_id)
    history = None
    if can_read_audit(actor):
        history = await list_audit(
            session,
            actor,
            AuditFilter(entity_type="obligation_instance", entity_id=str(instance_id)),
            limit=50,
        )
    return render(
        request,
        "obligation.html",
        {
            "details": details,
            "item": details.obligation,
            "history": history,
            "wording": wording,
        },
    )


async def document(request: web.Request) -> web.Response:
    """A proof file as it was uploaded: its name, its type, its bytes, checked against the
    SHA-256 recorded at upload (a file changed on disk is refused, never served)."""
    actor = actor_of(request)
    instance_id = _uuid(request.match_info["id"], ErrorCode.document_not_found)
    document_id = _uuid(request.match_info["document_id"], ErrorCode.document_not_found)
    view, data = await read_document(
        db_session_of(request), actor, document_id, dashboard_of(request).storage
    )
    details = await obligation_details(db_session_of(request), actor, instance_id)
    if view.id not in {d.id for d in details.documents}:
        raise NotFoundError(ErrorCode.document_not_found)
    if hashlib.sha256(data).hexdigest() != view.sha256:
        raise NotFoundError(ErrorCode.document_not_found)
    ascii_name = view.filename.encode("ascii", "replace").decode().replace('"', "'")
    return web.Response(
        body=data,
        content_type=view.mime_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(view.filename)}"
            ),
            "Cache-Control": "private, no-store",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/obligations", obligations, name="obligations")
    app.router.add_get("/calendar", month, name="calendar")
    app.router.add_get("/obligations/{id}", obligation, name="obligation")
    app.router.add_get(
        "/obligations/{id}/documents/{document_id}", document, name="obligation_document"
    )
