"""The bot's @username for invite links, when BOT_USERNAME is not set (SPEC §2).

An administrator who set only BOT_TOKEN should still get a deep link that works, so the
command line asks Telegram once (`getMe`) and remembers the answer: in this process, and
in a small JSON file under DATA_DIR so that the next command needs no network. The file is
keyed by a SHA-256 prefix of the token, never by the token itself: a changed token is
looked up afresh, and nothing in the file or in any message can give the token away. Any
failure falls back to `<bot>` with a reason the command shows beside the link.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from core.config import Settings

CACHE_FILE = "telegram_bot.json"
GET_ME_TIMEOUT_SECONDS = 5.0
"""Short: an invite is still issued when Telegram is unreachable, only its link is partial."""
TOKEN_KEY_LENGTH = 16
"""Hex characters of the token's SHA-256 that name its entry (64 bits: no collisions in
practice, and nothing to brute-force the token from)."""

USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
"""What Telegram allows a bot's username to be; anything else is not put in a link."""

_known: dict[str, str] = {}
"""Usernames found by this process, by token key."""


@dataclass(frozen=True)
class BotName:
    """The username for links, or None with the reason it is unknown."""

    username: str | None
    problem: str | None = None
    asked: bool = False
    """Whether Telegram was to be asked (BOT_TOKEN set): a failed lookup, not a missing
    setting, when `username` is None."""


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:TOKEN_KEY_LENGTH]


async def bot_username(settings: Settings) -> BotName:
    """BOT_USERNAME if set; else the username Telegram gives for BOT_TOKEN (cached)."""
    if settings.bot_username:
        return BotName(settings.bot_username.lstrip("@"))
    if settings.bot_token is None:
        return BotName(None, "neither BOT_USERNAME nor BOT_TOKEN is set")
    token = settings.bot_token.get_secret_value()
    key = token_key(token)
    cache = Path(settings.data_dir) / CACHE_FILE
    known = _known.get(key) or _read_cache(cache).get(key)
    if known:
        _known[key] = known
        return BotName(known)
    try:
        username = await _get_me(settings.telegram_api_url, token)
    except LookupFailedError as failed:
        return BotName(None, failed.reason.replace(token, "***"), asked=True)
    _known[key] = username
    _write_cache(cache, key, username)
    return BotName(username)


class LookupFailedError(Exception):
    """getMe gave no username; `reason` is ours, never an exception's text (which may carry
    the request URL, and with it the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _get_me(api_url: str, token: str) -> str:
    url = f"{api_url.rstrip('/')}/bot{token}/getMe"
    timeout = aiohttp.ClientTimeout(total=GET_ME_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(url, allow_redirects=False) as response,
        ):
            status = response.status
            try:
                body: Any = await response.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                body = None
    except TimeoutError:
        raise LookupFailedError(
            f"Telegram did not answer within {GET_ME_TIMEOUT_SECONDS:g} seconds"
        ) from None
    except aiohttp.ClientError as exc:
        raise LookupFailedError(f"cannot reach the Bot API ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise LookupFailedError(f"the Bot API answered HTTP {status} without a JSON reply")
    result = body.get("result")
    username = result.get("username") if isinstance(result, dict) else None
    if body.get("ok") is not True or not isinstance(username, str):
        description = body.get("description")
        said = f": {description}" if isinstance(description, str) and description else ""
        raise LookupFailedError(f"the Bot API answered HTTP {status}{said}")
    if not USERNAME.fullmatch(username):
        raise LookupFailedError("the Bot API answered with no usable username")
    return username


def _load(path: Path) -> dict[str, Any]:
    """The cache file's entries; an unreadable or foreign file is simply no cache."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _read_cache(path: Path) -> dict[str, str]:
    return {
        key: entry["username"]
        for key, entry in _load(path).items()
        if isinstance(entry, dict)
        and isinstance(entry.get("username"), str)
        and USERNAME.fullmatch(entry["username"])
    }


def _write_cache(path: Path, key: str, username: str) -> None:
    """Add one entry, written whole and renamed into place so a reader never sees half a
    file; a data folder that cannot be written only costs the next command a lookup."""
    document = _load(path)
    document[key] = {"username": username, "fetched_at": datetime.now(UTC).isoformat()}
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as handle:
            temporary = handle.name
            json.dump(document, handle, indent=2, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


__all__ = ["BotName", "bot_username", "token_key"]
