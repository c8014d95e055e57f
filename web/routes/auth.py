"""Signing in and out, and the language of the pages (SPEC §9).

- `GET /app/login?token=T`: a single-use link from `/dashboard`. The answer is a page that
  moves on to the overview by itself: a `SameSite=Strict` cookie set while arriving from
  another site (the Telegram app, a mail client) is not sent on a redirect of that same
  arrival, but is on the page's own next navigation.
- `GET /app/telegram`: the Web App's entry; Telegram's script hands the page `initData`,
  which it posts to `POST /app/auth/telegram` (form field `initData`).
- `POST /app/logout`, `POST /app/language`: with the session's CSRF token.
"""

from __future__ import annotations

from aiohttp import web

from core.dashboard.auth import (
    SignedIn,
    SignInMethod,
    end_session,
    find_telegram_user,
    open_session,
    redeem_login_link,
    verify_init_data,
)
from core.errors import ErrorCode, ValidationError
from core.tenancy.language import set_language
from web.app import (
    ACTOR,
    COOKIE,
    PREFIX,
    SESSION_TOKEN,
    WEB_SESSION,
    actor_of,
    allow_telegram_frame,
    dashboard_of,
    db_session_of,
    public,
    redirect,
    render,
    set_session_cookie,
    url,
)


def _unavailable(request: web.Request) -> None:
    if dashboard_of(request).signer is None:
        raise ValidationError(ErrorCode.dashboard_unavailable)


async def _signed_in(request: web.Request, who: SignedIn, method: SignInMethod) -> web.Response:
    opened = await open_session(dashboard_of(request).db, who, method)
    response = render(request, "continue.html", {"next": url("/")})
    set_session_cookie(request, response, opened.tenant_id, opened.token)
    return response


@public
async def login(request: web.Request) -> web.Response:
    _unavailable(request)
    who = await redeem_login_link(dashboard_of(request).db, request.query.get("token", ""))
    return await _signed_in(request, who, "link")


@public
@allow_telegram_frame
async def telegram_entry(request: web.Request) -> web.Response:
    _unavailable(request)
    return render(request, "telegram.html")


@public
@allow_telegram_frame
async def telegram_sign_in(request: web.Request) -> web.Response:
    _unavailable(request)
    dashboard = dashboard_of(request)
    assert dashboard.bot_token is not None
    form = await request.post()
    init_data = form.get("initData")
    if not isinstance(init_data, str):
        raise ValidationError(ErrorCode.sign_in_invalid)
    telegram_user_id = verify_init_data(init_data, dashboard.bot_token)
    who = await find_telegram_user(dashboard.db, telegram_user_id)
    return await _signed_in(request, who, "telegram")


async def logout(request: web.Request) -> web.Response:
    await end_session(db_session_of(request), request[SESSION_TOKEN])
    request.pop(ACTOR, None)
    request.pop(WEB_SESSION, None)
    response = render(request, "signed_out.html", {"farewell": True})
    response.del_cookie(COOKIE, path=PREFIX)
    return response


def safe_next(value: object) -> str:
    """Where to go back to after a form: a dashboard path only, never another site."""
    if (
        isinstance(value, str)
        and value.startswith(PREFIX + "/")
        and not any(character in value for character in "\\\r\n")
    ):
        return value
    return url("/")


async def language(request: web.Request) -> web.Response:
    form = await request.post()
    await set_language(db_session_of(request), actor_of(request), str(form.get("language", "")))
    return redirect(safe_next(form.get("next")))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login, name="login")
    app.router.add_get("/telegram", telegram_entry, name="telegram")
    app.router.add_post("/auth/telegram", telegram_sign_in, name="auth_telegram")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_post("/language", language, name="language")
