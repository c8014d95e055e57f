"""A loopback stand-in for the Telegram Bot API, spoken to over real HTTP by aiogram.

It serves `/bot<token>/<method>` (form-encoded or multipart, as aiogram sends it) and
`/file/bot<token>/<path>`, keeps every call for the tests to read, remembers the messages
it "sent" so edits can be checked, and can be told to answer the next call of a method
with an error (a 429 with retry_after, a 403 for a blocked bot).

It is as strict as the real service where Intrex could get it wrong:

* `parse_mode=HTML` text and captions are parsed the way Telegram (TDLib) parses them: only
  Telegram's tags, balanced, and only `&lt;` `&gt;` `&amp;` `&quot;` and numeric entities.
  A stray `<` is refused as Telegram refuses it; a bare `&` is refused too, which Telegram
  itself lets through, so that unescaped user text is caught before a `<` in it is
  (`bare_ampersand_ok=True` restores Telegram's leniency).
* the visible text (after parsing and trimming) is 1..4096 UTF-16 code units, a caption
  at most 1024;
* inline keyboards: buttons need text and an action, callback_data is 1..64 bytes, at most
  100 buttons;
* a callback query can be answered once, with at most 200 characters;
* getFile refuses files over 20 MB, and downloads are streamed in 64 KiB chunks, counting
  what was actually written (`served_bytes`);
* Telegram's flood control at its published values (Bot API FAQ, "My bot is hitting
  limits"): about 30 messages a second per bot token (`global_per_second`, a second's
  worth of burst) and at most 20 a minute to one group (`per_group_per_minute`, a sliding
  minute: chat ids below zero), both on by default; about one a second to one private chat
  (`per_chat_per_second`, after a short burst of `per_chat_burst`) when asked for, since
  Telegram lets a bot answer a person's messages as they come (the bot tests' dialogues
  would trip it). Sends, documents and edits count. Beyond a limit the call is answered
  429 with `parameters.retry_after` and kept in `throttled`; `enforce_limits=False` turns
  them all off (benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import mimetypes
import string
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

BOT_ID = 4242
BOT_USERNAME = "intrex_test_bot"

MESSAGE_LIMIT = 4096
"""UTF-16 code units of visible text in one message."""
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_LIMIT = 64
"""Bytes (UTF-8) of a button's callback_data."""
BUTTON_LIMIT = 100
GET_FILE_LIMIT = 20 * 1024 * 1024
"""The largest file a bot may download (getFile)."""
UPLOAD_LIMIT = 50 * 1024 * 1024
"""The largest file a bot may upload with multipart/form-data."""
DOWNLOAD_CHUNK = 64 * 1024
PHOTO_LIMIT = 10 * 1024 * 1024
"""The largest photo a bot may send."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PHOTO_SIGNATURES = (_PNG_SIGNATURE, b"\xff\xd8\xff", b"RIFF")
"""PNG, JPEG and WebP (a RIFF container): what Telegram turns into a photo."""

QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_RATE_LIMITED = frozenset({"sendMessage", "sendDocument", "editMessageText"})
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart call, as it stands in `Call.params` (under its attach key)."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Entity:
    """A formatting entity, offsets and lengths in UTF-16 code units as Telegram counts."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None


@dataclass(frozen=True)
class Rendered:
    """What a message shows after parsing: the visible text and its entities."""

    text: str
    entities: tuple[Entity, ...] = ()


class EntityParseError(ValueError):
    """The text is not HTML that Telegram accepts (the message is Telegram's, after
    "can't parse entities: ")."""


@dataclass
class _Bucket:
    tokens: float
    stamp: float


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
    file_finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a download response ends, served in full or cut short by the client."""
    served_bytes: dict[str, int] = field(default_factory=dict)
    """Bytes of each file (by file_id) written to the client by its latest download."""
    hung_up: list[str] = field(default_factory=list)
    """File ids whose download the client abandoned before the end."""
    hide_file_sizes: bool = False
    """Leave file_size out of getFile's answer (Telegram may omit it)."""
    uploaded: dict[str, bytes] = field(default_factory=dict)
    """Bytes of every document uploaded with sendDocument, by its file name."""
    rendered: dict[tuple[int, int], Rendered] = field(default_factory=dict)
    """What each stored message shows after entity parsing, by (chat_id, message_id)."""
    answered_callback_queries: set[str] = field(default_factory=set)
    per_chat_per_second: float | None = None
    """Messages a second to one private chat before 429 (Telegram: about 1); off unless set."""
    per_chat_burst: float = 5.0
    """How many a private chat takes at once before that rate applies ("short bursts")."""
    per_group_per_minute: int | None = 20
    """Messages to one group (a negative chat id) in any 60 seconds (Telegram: 20)."""
    global_per_second: float | None = 30.0
    """Messages a second per bot token before 429 (Telegram: about 30); the burst is one
    second's worth."""
    enforce_limits: bool = True
    """False: no flood control at all, whatever the three limits say."""
    throttled: list[Call] = field(default_factory=list)
    """The calls answered 429 by the flood control (not those planted with `fail_next`)."""
    clock: Callable[[], float] = field(default=time.monotonic)
    bare_ampersand_ok: bool = False
    """Accept a `&` that starts no entity as a literal, as Telegram does."""
    file_names: dict[str, str] = field(default_factory=dict)
    _buckets: dict[tuple[str, int | None], _Bucket] = field(default_factory=dict)
    _group_sends: dict[tuple[str, int], deque[float]] = field(default_factory=dict)
    _token: str = ""
    """The bot token of the call being answered (flood control is per token)."""
    extra_routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = (
        field(default_factory=list)
    )
    """(method, path, handler) served beside the Bot API: a test's own view of the stand-in."""
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

    def add_file(self, file_id: str, content: bytes, file_name: str | None = None) -> None:
        self.files[file_id] = content
        if file_name is not None:
            self.file_names[file_id] = file_name

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = dict(await request.post()) if request.can_read_body else {}
        params = {key: _decode(key, value) for key, value in raw.items()}
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
        self._token = request.match_info["token"]
        result = handler(params) if handler else True
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    # -- validation shared by the sending methods ------------------------------------------

    def render(self, text: str, parse_mode: Any) -> Rendered:
        """Parse text as Telegram would for this parse_mode (raises EntityParseError)."""
        mode = str(parse_mode or "").lower()
        if mode == "html":
            return parse_html(text, bare_ampersand_ok=self.bare_ampersand_ok)
        # Markdown is not spoken here (Intrex sends HTML): its text is counted as it is.
        return Rendered(text)

    def _parsed(
        self, params: dict[str, Any], key: str, limit: int, too_long: str, empty: str | None
    ) -> Rendered | web.Response:
        mode = params.get("parse_mode")
        if mode and str(mode).lower() not in ("html", "markdown", "markdownv2"):
            return _error(400, "Bad Request: unsupported parse_mode")
        raw = params.get(key, "")
        try:
            rendered = self.render(raw if isinstance(raw, str) else str(raw), mode)
        except EntityParseError as exc:
            return _error(400, f"Bad Request: can't parse entities: {exc}")
        visible = rendered.text.strip(_TRIMMED)
        if not visible and empty is not None:
            return _error(400, f"Bad Request: {empty}")
        if utf16_length(visible) > limit:
            return _error(400, f"Bad Request: {too_long}")
        return rendered

    def _chat_id(self, params: dict[str, Any]) -> int | web.Response:
        value = params.get("chat_id")
        if value in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            return _error(400, "Bad Request: chat not found")

    def _throttle(self, chat_id: int) -> web.Response | None:
        """Telegram's flood control: a token bucket for the bot token, a sliding minute for a
        group, a token bucket for a private chat. Nothing is taken from any of them unless
        all three let the message through."""
        if not self.enforce_limits:
            return None
        token, now = self._token, self.clock()
        buckets: list[tuple[_Bucket, float, float]] = []
        if self.global_per_second is not None:
            rate = self.global_per_second
            buckets.append((self._bucket((token, None), max(1.0, rate), now), rate, max(1.0, rate)))
        if chat_id > 0 and self.per_chat_per_second is not None:
            rate, burst = self.per_chat_per_second, max(1.0, self.per_chat_burst)
            buckets.append((self._bucket((token, chat_id), burst, now), rate, burst))
        waits: list[float] = []
        for bucket, rate, capacity in buckets:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                waits.append((1.0 - bucket.tokens) / rate)
        window: deque[float] | None = None
        if chat_id < 0 and self.per_group_per_minute is not None:
            window = self._group_sends.setdefault((token, chat_id), deque())
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= self.per_group_per_minute:
                waits.append(60.0 - (now - window[0]))
        if waits:
            self.throttled.append(self.calls[-1])
            retry_after = max(1, math.ceil(max(waits)))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
                status=429,
            )
        for bucket, _, _ in buckets:
            bucket.tokens -= 1.0
        if window is not None:
            window.append(now)
        return None

    def _bucket(self, key: tuple[str, int | None], capacity: float, now: float) -> _Bucket:
        return self._buckets.setdefault(key, _Bucket(capacity, now))

    # -- methods --------------------------------------------------------------------------

    def _store(self, chat_id: int, rendered: Rendered, **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Intrex"},
            **content,
        }
        self.messages[(chat_id, message["message_id"])] = message
        self.rendered[(chat_id, message["message_id"])] = rendered
        return message

    def _do_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Intrex", "username": BOT_USERNAME}

    def _do_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        if isinstance(chat_id, web.Response):
            return chat_id
        rendered = self._parsed(
            params, "text", MESSAGE_LIMIT, "message is too long", "message text is empty"
        )
        if isinstance(rendered, web.Response):
            return rendered
        refused = check_reply_markup(params.get("reply_markup")) or self._throttle(chat_id)
        if refused is not None:
            return refused
        content: dict[str, Any] = {"text": params.get("text", "")}
        if "reply_markup" in params:
            content["reply_markup"] = params["reply_markup"]
        return self._store(chat_id, rendered, **content)

    def _do_editMessageText(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        if isinstance(chat_id, web.Response):
            return chat_id
        key = (chat_id, int(params.get("message_id", 0) or 0))
        current = self.messages.get(key)
        if current is None:
            return _error(400, "Bad Request: message to edit not found")
        if "text" not in current:
            return _error(400, "Bad Request: there is no text in the message to edit")
        rendered = self._parsed(
            params, "text", MESSAGE_LIMIT, "message is too long", "message text is empty"
        )
        if isinstance(rendered, web.Response):
            return rendered
        refused = check_reply_markup(params.get("reply_markup"))
        if refused is not None:
            return refused
        same_text = (
            self.rendered[key] == rendered
            if key in self.rendered
            else current["text"] == params.get("text")
        )
        if same_text and current.get("reply_markup") == params.get("reply_markup"):
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        refused = self._throttle(chat_id)
        if refused is not None:
            return refused
        current["text"] = params.get("text", "")
        self.rendered[key] = rendered
        if "reply_markup" in params:
            current["reply_markup"] = params["reply_markup"]
        else:
            current.pop("reply_markup", None)
        return current

    def _do_sendDocument(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        if isinstance(chat_id, web.Response):
            return chat_id
        reference = params.get("document")
        if isinstance(reference, str) and reference.startswith("attach://"):
            reference = params.get(reference.removeprefix("attach://"))
        if isinstance(reference, Upload):
            if not reference.content:
                return _error(400, "Bad Request: file must be non-empty")
            if len(reference.content) > UPLOAD_LIMIT:
                return _error(413, "Request Entity Too Large")
            file_id, file_name = f"doc-{next(self._ids)}", reference.filename
        elif isinstance(reference, str) and reference:
            if reference not in self.files:
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            file_id, file_name = reference, self.file_names.get(reference, f"{reference}.bin")
        else:
            return _error(400, "Bad Request: there is no document in the request")
        rendered = self._parsed(
            params, "caption", CAPTION_LIMIT, "message caption is too long", empty=None
        )
        if isinstance(rendered, web.Response):
            return rendered
        refused = check_reply_markup(params.get("reply_markup")) or self._throttle(chat_id)
        if refused is not None:
            return refused
        if isinstance(reference, Upload):
            self.files[file_id] = reference.content
            self.file_names[file_id] = file_name
            self.uploaded[file_name] = reference.content
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": file_name,
            "file_size": len(self.files[file_id]),
        }
        mime_type = mimetypes.guess_type(file_name)[0]
        if mime_type:
            document["mime_type"] = mime_type
        content_fields: dict[str, Any] = {"document": document}
        if params.get("caption"):
            content_fields["caption"] = params["caption"]
        if "reply_markup" in params:
            content_fields["reply_markup"] = params["reply_markup"]
        return self._store(chat_id, rendered, **content_fields)

    def _do_sendPhoto(self, params: dict[str, Any]) -> Any:
        """A photo as Telegram takes it: an uploaded PNG, JPEG or WebP of at most 10 MB
        (anything else fails to process), a PNG within Telegram's dimensions (width plus
        height at most 10,000, sides at most 20 to 1), or a known file_id."""
        chat_id = self._chat_id(params)
        if isinstance(chat_id, web.Response):
            return chat_id
        reference = params.get("photo")
        if isinstance(reference, str) and reference.startswith("attach://"):
            reference = params.get(reference.removeprefix("attach://"))
        width = height = 0
        if isinstance(reference, Upload):
            content = reference.content
            if not content:
                return _error(400, "Bad Request: file must be non-empty")
            if len(content) > PHOTO_LIMIT:
                return _error(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
            if not content.startswith(_PHOTO_SIGNATURES):
                return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
            if content.startswith(_PNG_SIGNATURE):
                if len(content) < 24 or content[12:16] != b"IHDR":
                    return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
                width, height = struct.unpack(">II", content[16:24])
                if (
                    not width
                    or not height
                    or width + height > 10_000
                    or max(width, height) > 20 * min(width, height)
                ):
                    return _error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
            file_id = f"photo-{next(self._ids)}"
        elif isinstance(reference, str) and reference in self.files:
            file_id, content = reference, self.files[reference]
        elif isinstance(reference, str) and reference:
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            return _error(400, "Bad Request: there is no photo in the request")
        rendered = self._parsed(
            params, "caption", CAPTION_LIMIT, "message caption is too long", empty=None
        )
        if isinstance(rendered, web.Response):
            return rendered
        refused = check_reply_markup(params.get("reply_markup")) or self._throttle(chat_id)
        if refused is not None:
            return refused
        self.files[file_id] = content
        photo = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "width": width,
            "height": height,
            "file_size": len(content),
        }
        content_fields: dict[str, Any] = {"photo": [photo]}
        if params.get("caption"):
            content_fields["caption"] = params["caption"]
        if "reply_markup" in params:
            content_fields["reply_markup"] = params["reply_markup"]
        return self._store(chat_id, rendered, **content_fields)

    def _do_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id", "") or "")
        if utf16_length(str(params.get("text", "") or "")) > CALLBACK_ANSWER_LIMIT:
            return _error(400, "Bad Request: MESSAGE_TOO_LONG")
        if not query_id or query_id in self.answered_callback_queries:
            return _error(400, QUERY_TOO_OLD)
        self.answered_callback_queries.add(query_id)
        return True

    def _do_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        if size > GET_FILE_LIMIT:
            return _error(400, "Bad Request: file is too big")
        result: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_path": f"documents/{file_id}.bin",
        }
        if not self.hide_file_sizes:
            result["file_size"] = size
        return result

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

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.file_requested.set()
        await asyncio.sleep(self.file_delay_seconds)
        name = request.match_info["path"].removeprefix("documents/").removesuffix(".bin")
        if name not in self.files:
            return web.Response(status=404)
        content = self.files[name]
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(content)
        self.served_bytes[name] = 0
        try:
            await response.prepare(request)
            for start in range(0, len(content), DOWNLOAD_CHUNK):
                chunk = content[start : start + DOWNLOAD_CHUNK]
                await response.write(chunk)
                self.served_bytes[name] += len(chunk)
            await response.write_eof()
        except ConnectionError:  # reset, or lost while draining: the client hung up
            self.hung_up.append(name)
        finally:
            self.file_finished.set()
        return response

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        for method, path, handler in self.extra_routes:
            app.router.add_route(method, path, handler)
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


def check_reply_markup(markup: Any) -> web.Response | None:
    """An inline keyboard as the Bot API checks it; None when it would be accepted."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        return _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return _error(
            400,
            "Bad Request: can't parse reply keyboard markup JSON object: "
            'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
        )
    buttons = [button for row in rows for button in row]
    if len(buttons) > BUTTON_LIMIT:
        return _error(400, "Bad Request: REPLY_MARKUP_TOO_LONG")
    for button in buttons:
        problem = _button_problem(button)
        if problem is not None:
            return _error(400, f"Bad Request: {problem}")
    return None


def _button_problem(button: Any) -> str | None:
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict):
        return prefix + "InlineKeyboardButton must be an Object"
    if "text" not in button:
        return prefix + 'Can\'t find field "text"'
    if not isinstance(button["text"], str):
        return prefix + 'Field "text" must be of type String'
    if not button["text"].strip():
        return "BUTTON_TEXT_INVALID"
    # An empty string is as good as absent to the Bot API.
    if not any(button.get(action) not in (None, "") for action in _BUTTON_ACTIONS):
        return prefix + "Text buttons are unallowed in the inline keyboard"
    data = button.get("callback_data")
    if data is not None and (
        not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT
    ):
        return "BUTTON_DATA_INVALID"
    return None


# -- Telegram's HTML ---------------------------------------------------------------------

_TRIMMED = " \t\r\n"
_SPACES = " \t\r\n\v\0"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_TYPES = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAME_TOKEN = frozenset(string.ascii_letters + string.digits + ".-")


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _html_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode the character reference at text[pos] == "&" as TDLib does: the character and
    the position after it, or None when it is not one (the `;` is optional, as there)."""

    def at(k: int) -> str:
        return text[k] if k < len(text) else "\0"

    end = pos + 1
    if at(end) == "#":
        end += 1
        value = 0
        hexadecimal = at(end) == "x"
        if hexadecimal:
            end += 1
        base, digits = (16, string.hexdigits) if hexadecimal else (10, string.digits)
        while at(end) in digits:
            value = value * base + int(at(end), base)
            end += 1
            if value >= 0x10FFFF:
                return None, pos
        if value == 0 or end - pos >= 10:
            return None, pos
        character = chr(value)
    else:
        while at(end).isascii() and at(end).isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None, pos
        character = named
    if at(end) == ";":
        end += 1
    return character, end


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int
    start: int


def parse_html(text: str, *, bare_ampersand_ok: bool = False) -> Rendered:
    """Telegram's parse_mode=HTML (after TDLib's parse_html), raising EntityParseError with
    Telegram's wording where Telegram refuses the text."""
    n = len(text)
    visible: list[str] = []
    utf16 = 0
    entities: list[Entity] = []
    nested: list[_Open] = []

    def at(k: int) -> str:
        return text[k] if k < n else "\0"

    def byte(k: int) -> int:
        return len(text[:k].encode("utf-8", "surrogatepass"))

    def unescaped(k: int) -> EntityParseError:
        return EntityParseError(
            f'Character "&" at byte offset {byte(k)} starts no entity; it must be '
            'escaped as "&amp;"'
        )

    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            character, after = _html_entity(text, i)
            if character is not None:
                visible.append(character)
                utf16 += utf16_length(character)
                i = after
                continue
            if not bare_ampersand_ok:
                raise unescaped(i)
        if c != "<":
            visible.append(c)
            utf16 += utf16_length(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            while at(i) not in _SPACES and at(i) != ">":
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {byte(begin)}")
            tag = text[begin + 1 : i].lower()
            if tag not in _TAG_TYPES:
                raise EntityParseError(
                    f'Unsupported start tag "{tag}" at byte offset {byte(begin)}'
                )
            attributes: dict[str, str] = {}
            while at(i) != ">":
                while i < n and at(i) in _SPACES:
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {byte(begin)}")
                if at(i) == ">":
                    break
                name_start = i
                while at(i) not in _SPACES and at(i) not in "=>":
                    i += 1
                attribute = text[name_start:i]
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {byte(begin)}'
                    )
                while i < n and at(i) in _SPACES:
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {byte(begin)}'
                    )
                if at(i) != "=":
                    if tag == "blockquote" and attribute == "expandable":
                        attributes[attribute] = ""
                        continue
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {byte(begin)}'
                    )
                i += 1
                while i < n and at(i) in _SPACES:
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {byte(begin)}'
                    )
                if at(i) not in "'\"":
                    token_start = i
                    while at(i) in _NAME_TOKEN:
                        i += 1
                    value = text[token_start:i].lower()
                    if at(i) not in _SPACES and at(i) != ">":
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {byte(token_start)}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    pieces: list[str] = []
                    while i < n and at(i) != quote:
                        if at(i) == "&":
                            character, after = _html_entity(text, i)
                            if character is not None:
                                pieces.append(character)
                                i = after
                                continue
                            if not bare_ampersand_ok:
                                raise unescaped(i)
                        pieces.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = "".join(pieces)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {byte(begin)}")
                attributes[attribute] = value
            nested.append(_Open(tag, _argument(tag, attributes, byte(begin)), utf16, len(visible)))
            i += 1
            continue

        if not nested:
            raise EntityParseError(f"Unexpected end tag at byte offset {byte(begin)}")
        while at(i) not in _SPACES and at(i) != ">":
            i += 1
        end_tag = text[begin + 2 : i]
        while i < n and at(i) in _SPACES:
            i += 1
        if at(i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {byte(begin)}")
        opened = nested.pop()
        if end_tag and end_tag != opened.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {byte(begin)}, expected "</{opened.tag}>", '
                f'found "</{end_tag}>"'
            )
        if utf16 > opened.offset:
            _close(entities, opened, utf16 - opened.offset, "".join(visible[opened.start :]))
        i += 1

    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1].tag}"')
    result = "".join(visible)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in result):
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )
    return Rendered(
        result,
        tuple(
            Entity(e.type, e.offset, e.length, e.url) if e.type == "code" else e
            for e in sorted(entities, key=lambda e: (e.offset, -e.length))
        ),
    )


def _argument(tag: str, attributes: dict[str, str], at_byte: int) -> str:
    if tag == "a":
        return attributes.get("href", "")
    if tag == "code":
        css = attributes.get("class", "")
        return css.removeprefix("language-") if css.startswith("language-") else ""
    if tag == "span":
        if attributes.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {at_byte}'
            )
        return ""
    if tag == "tg-emoji":
        emoji_id = attributes.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        return emoji_id
    if tag == "blockquote" and "expandable" in attributes:
        return "expandable"
    return ""


def _close(entities: list[Entity], opened: _Open, length: int, inner: str) -> None:
    kind, offset = _TAG_TYPES[opened.tag], opened.offset
    last = entities[-1] if entities else None
    same_span = last is not None and (last.offset, last.length) == (offset, length)
    if kind == "text_link":
        url = opened.argument or inner
        if url.startswith("tg://user?id="):
            entities.append(Entity("text_mention", offset, length, url))
        else:
            entities.append(Entity("text_link", offset, length, url))
    elif kind == "pre" and last is not None and same_span and last.type == "code":
        entities[-1] = Entity("pre", offset, length, language=last.language or None)
    elif kind == "code" and last is not None and same_span and last.type == "pre":
        entities[-1] = Entity("pre", offset, length, language=opened.argument or None)
    elif kind == "blockquote" and opened.argument:
        entities.append(Entity("expandable_blockquote", offset, length))
    elif kind == "custom_emoji":
        entities.append(Entity(kind, offset, length, custom_emoji_id=opened.argument))
    else:
        entities.append(Entity(kind, offset, length, language=opened.argument or None))


_PLAIN_TEXT = frozenset({"text", "caption"})
"""Parameters that are text even when they look like JSON ("[Acme] ...")."""


def _decode(key: str, value: Any) -> Any:
    if isinstance(value, FileField):
        return Upload(value.filename, value.content_type, value.file.read())
    if not isinstance(value, str) or key in _PLAIN_TEXT:
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
