"""The web dashboard (SPEC §9): an aiohttp sub-application under `/app`, server-rendered.

Per request, in this order (the middlewares below, and a signal):
1. `security_headers` (a signal: on every response as it is prepared, streamed ones too): a
   strict Content-Security-Policy, no framing except by Telegram's web client for a session
   opened inside Telegram, no referrer (a login link's token must not travel on), no caching
   of pages about people.
2. `refusals`: a typed error (`core.errors`) becomes a page in the reader's language with
   its status (not found 404, not allowed 403, bad input 400); anything unexpected is
   logged and the reader sees "something went wrong".
3. `unit_of_work`: every route not marked `public` needs a session. The signed cookie names
   the tenant; the tenant's transaction (row-level security) finds the session and reloads
   the person (`load_actor`: a disabled person is signed out here, at the next click), and a
   POST must carry the session's CSRF token. The handler gets `actor_of(request)` and
   `db_session_of(request)`, and the transaction commits after it (rolls back if it raises).

Handlers are thin, as the bot's are: parse, call one core service, render a template.
"""

from __future__ import annotations

import contextvars
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.policy import can_read_audit
from core.config import Settings
from core.crypto import SecretBox
from core.dashboard.auth import CookieSigner, LiveSession, end_session, find_session
from core.db.session import Database
from core.errors import (
    ErrorCode,
    IntrexError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)
from core.i18n import N_, Texts, choose_language, texts_for
from core.i18n.errors import SOMETHING_WENT_WRONG, render_error
from core.i18n.labels import label
from core.storage import DocumentStorage
from core.tenancy.policy import can_view_people
from core.tenancy.scope import Actor, load_actor

log = structlog.get_logger(__name__)

PREFIX = "/app"
COOKIE = "intrex_session"
HERE = Path(__file__).parent
TELEGRAM_SCRIPT_ORIGIN = "https://telegram.org"
TELEGRAM_WEB_CLIENTS = "https://web.telegram.org"
"""Telegram's web client opens Web Apps in a frame; its mobile and desktop apps do not."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard")
ACTOR = web.RequestKey("actor", Actor)
"""The signed-in person, reloaded for this request (absent when signed out)."""
DB_SESSION = web.RequestKey("db_session", AsyncSession)
"""The request's unit of work: the tenant's transaction, committed after the handler."""
WEB_SESSION = web.RequestKey("web_session", LiveSession)
SESSION_TOKEN = web.RequestKey("session_token", str)
TEXTS = web.RequestKey("texts", Texts)
"""The reader's language (SPEC §8), for signed-out pages too."""
STREAMING = web.RequestKey("streaming", bool)
"""Set once a streamed response has sent its headers: a failure after that cannot become a
refusal page (the status is gone), so it breaks the connection off instead."""
_texts: contextvars.ContextVar[Texts] = contextvars.ContextVar("dashboard_texts")


@dataclass(frozen=True)
class Dashboard:
    """What every handler needs: the database, the settings, the document store, and what
    signs cookies and checks Telegram's data (None: the dashboard cannot sign anyone in)."""

    db: Database
    settings: Settings
    storage: DocumentStorage
    signer: CookieSigner | None
    bot_token: str | None

    @property
    def secure_cookies(self) -> bool:
        """Cookies are `Secure` whenever the dashboard's public address is HTTPS."""
        return self.settings.dashboard_base_url.startswith("https://")


def public(handler: H) -> H:
    """Mark a route that needs no session (sign-in, the calendar feed, static files)."""
    handler.__dict__["dashboard_public"] = True
    return handler


def allow_telegram_frame(handler: H) -> H:
    """Mark a public route Telegram's web client may frame (the Web App's entry)."""
    handler.__dict__["dashboard_telegram_frame"] = True
    return handler


def dashboard_of(request: web.Request) -> Dashboard:
    return request.config_dict[DASHBOARD]


def actor_of(request: web.Request) -> Actor:
    return request[ACTOR]


def db_session_of(request: web.Request) -> AsyncSession:
    return request[DB_SESSION]


def texts_of(request: web.Request) -> Texts:
    return request[TEXTS]


def url(path: str = "/") -> str:
    """A dashboard path as the browser sees it (`/app` + path)."""
    return PREFIX + path


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """A page: the template with the reader's language, their session's CSRF token and the
    actor (None when signed out)."""
    texts = request.get(TEXTS) or _reader_texts(request, None)
    web_session = request.get(WEB_SESSION)
    values = {
        "texts": texts,
        "label": lambda value: label(texts, value),
        "actor": request.get(ACTOR),
        "csrf_token": web_session.csrf_token if web_session is not None else "",
        "url": url,
        "path": request.path_qs,
        "language": texts.language.value,
        "nav": _navigation(request),
        **(context or {}),
    }
    token = _texts.set(texts)
    try:
        return aiohttp_jinja2.render_template(template, request, values, status=status)
    finally:
        _texts.reset(token)


NAVIGATION: tuple[tuple[str, str, Callable[[Actor], bool]], ...] = (
    ("/", N_("Overview"), lambda actor: True),
    ("/obligations", N_("Obligations"), lambda actor: True),
    ("/calendar", N_("Calendar"), lambda actor: True),
    ("/certificates", N_("Certificates"), lambda actor: True),
    ("/alerts", N_("Alerts"), lambda actor: True),
    ("/audit", N_("Audit"), can_read_audit),
    ("/people", N_("People"), can_view_people),
)
"""The menu: path, label, and the policy question that decides whether the actor sees it."""


def _navigation(request: web.Request) -> list[tuple[str, str, bool]]:
    """(href, label msgid, current) for each page the actor may open."""
    actor = request.get(ACTOR)
    if actor is None:
        return []
    here = request.path[len(PREFIX) :] or "/"
    return [
        (url(path), title, here == path or (path != "/" and here.startswith(path + "/")))
        for path, title, allowed in NAVIGATION
        if allowed(actor)
    ]


def redirect(location: str) -> web.Response:
    """A 303 to `location`. Returned, never raised: an exception out of a handler rolls its
    unit of work back."""
    return web.Response(status=303, headers={"Location": location})


def refusal_page(request: web.Request, message: str, status: int) -> web.Response:
    return render(request, "refusal.html", {"message": message}, status=status)


def _reader_texts(request: web.Request, actor: Actor | None) -> Texts:
    """SPEC §8: the person's own choice, else their browser's, else the tenant's."""
    dashboard = dashboard_of(request)
    language = choose_language(
        actor.language if actor is not None else None,
        request.headers.get("Accept-Language"),
        actor.tenant_language if actor is not None else None,
        dashboard.settings.default_language,
    )
    return texts_for(language)


def _marked(request: web.Request, mark: str) -> bool:
    return bool(getattr(request.match_info.handler, mark, False))


def _static(request: web.Request) -> bool:
    route = request.match_info.route
    return route is not None and isinstance(route.resource, web.StaticResource)


def _content_security_policy(framed_by_telegram: bool) -> str:
    ancestors = f"'self' {TELEGRAM_WEB_CLIENTS}" if framed_by_telegram else "'none'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {TELEGRAM_SCRIPT_ORIGIN}",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response of the dashboard as it is prepared: pages, refusals, redirects,
    static files and streamed feeds alike."""
    _secure(request, response)


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    web_session = request.get(WEB_SESSION)
    framed = _marked(request, "dashboard_telegram_frame") or (
        web_session is not None and web_session.method == "telegram"
    )
    headers = response.headers
    headers["Content-Security-Policy"] = _content_security_policy(framed)
    if not framed:
        headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "max-age=3600" if _static(request) else "no-store")
    if dashboard_of(request).secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000"


STATUS_OF: tuple[tuple[type[IntrexError], int], ...] = (
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (RateLimitedError, 429),
    (ValidationError, 400),
)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except IntrexError as error:
        if request.get(STREAMING):
            raise
        status = next((code for kind, code in STATUS_OF if isinstance(error, kind)), 409)
        actor = request.get(ACTOR)
        timezone = actor.timezone if actor is not None else "UTC"
        texts = request.get(TEXTS) or _reader_texts(request, actor)
        return refusal_page(request, render_error(error, texts.language.value, timezone), status)
    except web.HTTPNotFound:
        texts = request.get(TEXTS) or _reader_texts(request, request.get(ACTOR))
        missing = NotFoundError(ErrorCode.page_not_found)
        return refusal_page(request, render_error(missing, texts.language.value), 404)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("dashboard request failed", path=request.path)
        if request.get(STREAMING):
            raise
        texts = request.get(TEXTS) or _reader_texts(request, None)
        return refusal_page(request, texts.gettext(SOMETHING_WENT_WRONG), 500)


@web.middleware
async def unit_of_work(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _marked(request, "dashboard_public") or _static(request):
        request[TEXTS] = _reader_texts(request, None)
        return await handler(request)
    dashboard = dashboard_of(request)
    cookie = dashboard.signer.unsign(request.cookies.get(COOKIE)) if dashboard.signer else None
    if cookie is None:
        return signed_out(request)
    tenant_id, token = cookie
    async with dashboard.db.tenant_uow(tenant_id) as session:
        web_session = await find_session(session, token)
        if web_session is None:
            return signed_out(request)
        try:
            actor = await load_actor(session, web_session.user_id)
        except PermissionDeniedError:
            await end_session(session, token)
            return signed_out(request)
        request[WEB_SESSION] = web_session
        request[SESSION_TOKEN] = token
        request[ACTOR] = actor
        request[DB_SESSION] = session
        request[TEXTS] = _reader_texts(request, actor)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            form = await request.post()
            sent = form.get("csrf_token")
            if not isinstance(sent, str) or not hmac.compare_digest(
                sent.encode(), web_session.csrf_token.encode()
            ):
                raise PermissionDeniedError(ErrorCode.csrf_invalid)
        return await handler(request)


def signed_out(request: web.Request) -> web.Response:
    """The page for a request without a live session: how to sign in (and the cookie gone)."""
    request.pop(ACTOR, None)
    request[TEXTS] = _reader_texts(request, None)
    response = render(request, "signed_out.html", {"farewell": False}, status=401)
    response.del_cookie(COOKIE, path=PREFIX)
    return response


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, tenant: Any, token: str
) -> None:
    """The signed, HttpOnly, SameSite=Strict session cookie, for 8 hours, under `/app` only."""
    dashboard = dashboard_of(request)
    assert dashboard.signer is not None
    response.set_cookie(
        COOKIE,
        dashboard.signer.sign(tenant, token),
        max_age=8 * 3600,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        secure=dashboard.secure_cookies,
    )


def _gettext(message: str) -> str:
    return _texts.get().gettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return _texts.get().ngettext(singular, plural, count)


def create_dashboard(
    db: Database,
    settings: Settings,
    storage: DocumentStorage,
    secrets: SecretBox | None,
) -> web.Application:
    """The `/app` sub-application; mount it with `app.add_subapp(PREFIX, ...)`.

    Without the bot token or the encryption keys nobody can be signed in: every page then
    says so (`dashboard_unavailable`) rather than half-working.
    """
    from web import routes

    bot_token = settings.bot_token.get_secret_value() if settings.bot_token else None
    app = web.Application(middlewares=[refusals, unit_of_work])
    app.on_response_prepare.append(security_headers)
    app[DASHBOARD] = Dashboard(
        db=db,
        settings=settings,
        storage=storage,
        signer=CookieSigner(secrets) if secrets is not None and bot_token else None,
        bot_token=bot_token,
    )
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=False)  # type: ignore[attr-defined]
    routes.add_all(app)
    return app
