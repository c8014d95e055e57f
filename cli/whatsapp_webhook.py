"""`/whatsapp/webhook` on `intrex run`'s HTTP server: the Cloud API's status callbacks.

GET is Meta's subscription check (`hub.mode=subscribe`, `hub.verify_token`, echo
`hub.challenge`); POST carries statuses, accepted only with a valid `X-Hub-Signature-256`
and recorded by `core.notify.whatsapp_status`. Served only when both
`WHATSAPP_VERIFY_TOKEN` and `WHATSAPP_APP_SECRET` are set (otherwise the path is a 404).
Neither value is ever logged.
"""

from __future__ import annotations

from aiohttp import web

from core.clock import utc_now
from core.config import Settings
from core.db.session import Database
from core.notify.whatsapp_status import (
    parse_callback,
    record_statuses,
    signature_matches,
    subscription_challenge,
)

WHATSAPP_WEBHOOK_PATH = "/whatsapp/webhook"
SIGNATURE_HEADER = "X-Hub-Signature-256"


def add_whatsapp_webhook(app: web.Application, db: Database, settings: Settings) -> bool:
    """Serve the status webhook on `app` if it is configured; says whether it is."""
    if settings.whatsapp_verify_token is None or settings.whatsapp_app_secret is None:
        return False
    verify_token = settings.whatsapp_verify_token.get_secret_value()
    app_secret = settings.whatsapp_app_secret.get_secret_value()

    async def verify(request: web.Request) -> web.Response:
        challenge = subscription_challenge(
            verify_token,
            request.query.get("hub.mode"),
            request.query.get("hub.verify_token"),
            request.query.get("hub.challenge"),
        )
        if challenge is None:
            return web.Response(status=403, text="verification failed")
        return web.Response(text=challenge)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not signature_matches(app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            return web.Response(status=401, text="signature missing or wrong")
        now = utc_now()
        reports = parse_callback(body, now=now)
        if reports is None:
            return web.Response(status=400, text="not a JSON document")
        outcome = await record_statuses(db, settings, reports, now=now)
        return web.json_response({"ok": True, "recorded": outcome.recorded})

    app.router.add_get(WHATSAPP_WEBHOOK_PATH, verify)
    app.router.add_post(WHATSAPP_WEBHOOK_PATH, receive)
    return True
