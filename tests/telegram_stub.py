"""A loopback stand-in for the Telegram Bot API, spoken to over real HTTP by aiogram.

It serves `/bot<token>/<method>` (form-encoded, as aiogram sends it) and
`/file/bot<token>/<path>`, keeps every call for the tests to read, remembers the messages
it "sent" so edits can be checked, and can be told to answer the next call of a method
with an error (a 429 with retry_after, a 403 for a blocked bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 4242
BOT_USERNAME = "intrex_test_bot"


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class TelegramStub:
    """The Bot API as far as Intrex uses it."""

    port: int = 0
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    file_delay_seconds: float = 0.0
    """How long a file download takes (a slow network, or a big upload)."""
    file_requested: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method
            and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]

    def texts(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.sent(chat_id=chat_id)]

    def fail_next(self, method: str, error_code: int, description: str, **parameters: Any) -> None:
        self.failures.setdefault(method, []).append(
            {"error_code": error_code, "description": description, "parameters": parameters}
        )

    def add_file(self, file_id: str, content: bytes) -> None:
        self.files[file_id] = content

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = dict(await request.post()) if request.can_read_body else {}
        params = {key: _decode(value) for key, value in raw.items()}
        self.calls.append(Call(method, params))
        pending = self.failures.get(method)
        if pending:
            failure = pending.pop(0)
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure["error_code"],
                "description": failure["description"],
            }
            if failure["parameters"]:
                body["parameters"] = failure["parameters"]
            return web.json_response(body, status=failure["error_code"])
        if method == "getUpdates":
            await self._await_updates(float(params.get("timeout", 0) or 0))
        handler = getattr(self, f"_do_{method}", None)
        result = handler(params) if handler else True
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    def _message(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Intrex"},
            "text": params.get("text", ""),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _do_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Intrex", "username": BOT_USERNAME}

    def _do_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(int(params["chat_id"]), params)

    def _do_editMessageText(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        current = self.messages.get(key)
        if current is None:
            return _error(400, "Bad Request: message to edit not found")
        if current["text"] == params.get("text") and current.get("reply_markup") == params.get(
            "reply_markup"
        ):
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        current["text"] = params.get("text", "")
        if "reply_markup" in params:
            current["reply_markup"] = params["reply_markup"]
        else:
            current.pop("reply_markup", None)
        return current

    def _do_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": f"documents/{file_id}.bin",
        }

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for the bot's long polling (an update_id is assigned)."""
        update = {"update_id": next(self._ids), **update}
        self.updates.append(update)
        self._arrived.set()

    async def _await_updates(self, seconds: float) -> None:
        """Long polling: hold the request until an update arrives or a short timeout passes."""
        if self.updates:
            return
        self._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), min(seconds, 1.0))

    def _do_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        ready = [u for u in self.updates if u["update_id"] >= offset]
        self.updates = ready
        return ready[: int(params.get("limit", 100) or 100)]

    async def _file(self, request: web.Request) -> web.Response:
        self.file_requested.set()
        await asyncio.sleep(self.file_delay_seconds)
        name = request.match_info["path"].removeprefix("documents/").removesuffix(".bin")
        if name not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[name])

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _error(code: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description}, status=code
    )
