"""A loopback stand-in for the WhatsApp Cloud API, spoken to over real HTTP.

It serves `POST /<version>/<phone_number_id>/messages` and keeps every request and every
message it accepted. It is as strict as the real service where Intrex could get it wrong:

* `Authorization: Bearer <token>` must be the business's token (else 401, code 190);
* free-form `type: text` goes only to a number whose 24-hour customer window is open
  (`open_windows`), else 131047 "Re-engagement message" (the real API accepts the send and
  reports the failure by status webhook; the stand-in refuses at once, so a test sees it);
* a template must exist in that language (132001), with exactly as many body parameters as
  its body has placeholders (132000), each non-empty (131008), without line breaks, tabs or
  more than four spaces in a row (132018), the filled body at most 1,024 characters (131009);
* an accepted message is answered `{"messages": [{"id": "wamid..."}]}`.

`post_status` sends a status callback for a message to a webhook, signed with the app
secret as Meta signs it (`X-Hub-Signature-256`), or unsigned, or wrongly signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.peers import free_port

PHONE_NUMBER_ID = "1234567890"
TOKEN = "EAAG-stub-access-token"
APP_SECRET = "stub-app-secret-for-signatures"
BODY_LIMIT = 1024
PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
FORBIDDEN_IN_PARAMETER = re.compile(r"[\n\t]| {5,}")


@dataclass
class Accepted:
    """A message the stand-in took: its id, the request body, and what the reader sees."""

    id: str
    to: str
    body: dict[str, Any]
    text: str


@dataclass
class WhatsAppCloud:
    """Templates are `(name, language) -> body` with `{{1}}`-style placeholders."""

    templates: dict[tuple[str, str], str] = field(default_factory=dict)
    open_windows: set[str] = field(default_factory=set)
    token: str = TOKEN
    phone_number_id: str = PHONE_NUMBER_ID
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v21.0"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{version}/{phone_id}/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _error(status: int, code: int, title: str, details: str) -> web.Response:
        document = {
            "error": {
                "message": f"(#{code}) {title}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details},
                "fbtrace_id": "AbCdEfStub",
            }
        }
        return web.json_response(document, status=status)

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, 190, "Invalid OAuth access token", "Cannot parse token")
        if request.match_info["phone_id"] != self.phone_number_id:
            return self._error(400, 100, "Invalid parameter", "Unknown phone number id")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, 100, "Invalid parameter", "The body is not JSON")
        self.requests.append(body)
        if body.get("messaging_product") != "whatsapp":
            return self._error(400, 100, "Invalid parameter", "messaging_product")
        to = str(body.get("to", ""))
        if not to.isdigit():
            return self._error(400, 100, "Invalid parameter", "to")
        kind = body.get("type")
        if kind == "text":
            if to not in self.open_windows:
                return self._error(
                    400,
                    131047,
                    "Re-engagement message",
                    "More than 24 hours have passed since the recipient last replied",
                )
            return self._accept(to, body, str(body.get("text", {}).get("body", "")))
        if kind != "template":
            return self._error(400, 131051, "Unsupported message type", str(kind))
        return self._template(to, body)

    def _template(self, to: str, body: dict[str, Any]) -> web.Response:
        template = body.get("template") or {}
        key = (str(template.get("name")), str((template.get("language") or {}).get("code")))
        if key not in self.templates:
            return self._error(
                404, 132001, "Template does not exist", f"{key[0]} does not exist in {key[1]}"
            )
        text = self.templates[key]
        expected = len(set(PLACEHOLDER.findall(text)))
        bodies = [c for c in template.get("components") or [] if c.get("type") == "body"]
        parameters = bodies[0].get("parameters", []) if bodies else []
        if len(parameters) != expected:
            return self._error(
                400,
                132000,
                "Number of parameters does not match the expected number of params",
                f"body: number of localizable_params ({len(parameters)}) does not match the "
                f"expected number of params ({expected})",
            )
        values: list[str] = []
        for parameter in parameters:
            value = parameter.get("text") if parameter.get("type") == "text" else None
            if not isinstance(value, str) or not value.strip():
                return self._error(400, 131008, "Required parameter is missing", "text")
            if FORBIDDEN_IN_PARAMETER.search(value):
                return self._error(
                    400,
                    132018,
                    "There was an issue with the parameters in your template.",
                    "Param text cannot have new-line/tab characters or more than 4 "
                    "consecutive spaces",
                )
            values.append(value)
        shown = PLACEHOLDER.sub(lambda match: values[int(match.group(1)) - 1], text)
        if len(shown) > BODY_LIMIT:
            return self._error(400, 131009, "Parameter value is not valid", "body too long")
        return self._accept(to, body, shown)

    def _accept(self, to: str, body: dict[str, Any], text: str) -> web.Response:
        raw = f"{to}:{next(self._ids)}:{time.time_ns()}".encode()
        message_id = "wamid." + base64.b64encode(raw).decode().rstrip("=")
        self.accepted.append(Accepted(message_id, to, body, text))
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        )

    def callback(
        self,
        message_id: str,
        status: str,
        *,
        timestamp: int | None = None,
        error: tuple[int, str] | None = None,
    ) -> bytes:
        """A status callback body as Meta sends it."""
        entry: dict[str, Any] = {
            "id": message_id,
            "status": status,
            "timestamp": str(timestamp if timestamp is not None else int(time.time())),
            "recipient_id": next((a.to for a in self.accepted if a.id == message_id), ""),
        }
        if error is not None:
            code, title = error
            entry["errors"] = [
                {
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": f"{title} (stand-in)"},
                }
            ]
        document = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA-1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "8801700000000",
                                    "phone_number_id": self.phone_number_id,
                                },
                                "statuses": [entry],
                            },
                        }
                    ],
                }
            ],
        }
        return json.dumps(document).encode()

    @staticmethod
    def signature(secret: str, body: bytes) -> str:
        return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    async def post_status(
        self,
        webhook_url: str,
        message_id: str,
        status: str,
        *,
        secret: str | None = APP_SECRET,
        signature: str | None = None,
        timestamp: int | None = None,
        error: tuple[int, str] | None = None,
    ) -> tuple[int, str]:
        """Post a status callback to `webhook_url`: signed with `secret` (None: unsigned),
        or with the given `signature` header as it stands."""
        body = self.callback(message_id, status, timestamp=timestamp, error=error)
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = self.signature(secret, body)
        async with (
            aiohttp.ClientSession() as session,
            session.post(webhook_url, data=body, headers=headers) as response,
        ):
            return response.status, await response.text()
