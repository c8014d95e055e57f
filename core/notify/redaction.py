"""One redactor for every error text Intrex stores or logs (SPEC §4).

Receivers echo what they were sent: Express's default 404 says `Cannot POST /hook/<path>`,
gateways answer `401 invalid token Bearer …`, and client libraries put the URL (with a
Telegram bot token in it) into their exceptions. So no text a send produces is stored
(`connectors.last_error`, `notification_steps.last_error`, `notification_deliveries.error`)
or logged before it has passed through here. Two layers do the work:

- the *known* secrets: those of the connector the text is about (its URL's path and query,
  each long path segment and query value, tokens, passwords, the user name, the HMAC
  secret; `connector_secrets`) and those of the process (the `SecretStr` settings, and
  every connector a redactor was made for: `remember`), each also in its percent-, HTML-
  and JSON-escaped spellings, matched without regard to case;
- the *shapes* of a secret, whoever's it is: an `Authorization` header's value, `Bearer`/
  `Basic` credentials, `token=…`, `"password": "…"` and their kin, `user:password@` in a
  URL, Telegram bot tokens (`bot<id>:<token>`), and long runs of base64 or hex.

A redactor over-redacts rather than leaks: an error reads `HTTP 404: Cannot POST
[redacted]`, which still says what went wrong.
"""

from __future__ import annotations

import html
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pydantic import SecretStr

from core.config import Settings
from core.crypto import SecretBox
from core.notify.channels.base import DeliveryError

MASK = "[redacted]"
MIN_SECRET = 4
"""Shorter strings are never treated as secrets: replacing them would shred the text."""
MIN_SEGMENT = 6
"""A URL path segment this long or longer is a secret on its own, unless a common word."""
COMMON_SEGMENTS = frozenset(
    {"webhook", "webhooks", "messages", "notify", "services", "incoming", "events", "alerts"}
)
"""Path segments that name an API's parts, not a secret (`…/v21.0/<id>/messages`)."""
URL_KEYS = frozenset({"url", "base_url"})
SECRET_KEY = re.compile(r"token|secret|password|passwd|username|key|credential", re.IGNORECASE)
"""Connector configuration keys whose values are secrets (`access_token`, `password`...)."""
SECRET_HEADER = re.compile(r"authorization|token|secret|api[_-]?key|cookie", re.IGNORECASE)
"""Request headers whose values are secrets (`Authorization`, `X-Api-Key`...)."""
REMEMBERED_MAX = 4096
"""How many secrets the process keeps for its log processor (the most recent ones)."""

_NAMES = (
    r"[\w.-]*?(?:access[_-]?token|refresh[_-]?token|auth[_-]?token|api[_-]?key|apikey"
    r"|client[_-]?secret|secret|password|passwd|pwd|token|signature|credentials?)"
)
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # An Authorization header (any scheme): everything to the end of its line or string.
    (re.compile(r"(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)[^\r\n\"']+", re.I), rf"\1{MASK}"),
    # Credentials after a scheme, wherever they stand.
    (re.compile(r"\b(bearer|basic|digest)\s+[A-Za-z0-9._~+/=:-]+", re.IGNORECASE), rf"\1 {MASK}"),
    # JSON: "access_token": "…"
    (re.compile(rf"(\"{_NAMES}\"\s*:\s*\")(?:[^\"\\]|\\.)*(\")", re.IGNORECASE), rf"\1{MASK}\2"),
    # Query strings, forms, headers and prose: token=…, password: …
    (re.compile(rf"(\b{_NAMES}\b\s*[=:]\s*)[^\s\"'<>&,;]+", re.IGNORECASE), rf"\1{MASK}"),
    # user:password@ in a URL.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.IGNORECASE), rf"\1{MASK}@"),
    # Telegram bot tokens, with or without the `bot` of the API path.
    (re.compile(r"(?:\bbot|\b)\d{5,}:[A-Za-z0-9_-]{30,}"), MASK),
)
_LONG_RUN = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _long_run(match: re.Match[str]) -> str:
    """A long base64/hex run with letters and digits is a secret; UUIDs (ids) are not."""
    run = match.group(0)
    if not (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)):
        return run
    if _UUID.fullmatch(run):
        return run
    return MASK


def redact_shapes(text: str) -> str:
    """`text` without anything shaped like a credential, whoever's it is."""
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return _LONG_RUN.sub(_long_run, text)


def _spellings(secret: str) -> set[str]:
    """A secret as a receiver may echo it: as sent, decoded, encoded, HTML- or JSON-escaped."""
    decoded = unquote(secret)
    return {
        secret,
        decoded,
        quote(decoded, safe="/?&=:@+,;~"),
        quote(decoded, safe=""),
        html.escape(secret),
        secret.replace("/", "\\/"),
    }


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    spelled = {
        spelling
        for secret in secrets
        for spelling in _spellings(secret)
        if len(spelling) >= MIN_SECRET
    }
    if not spelled:
        return None
    longest_first = sorted(spelled, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in longest_first), re.IGNORECASE)


def url_secrets(url: str) -> list[str]:
    """What of a URL is secret: everything after the host (path, query, fragment), the
    path alone and the query alone, each path segment of `MIN_SEGMENT` characters or more
    (common API words aside), each query value, and a user name and password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    head = f"{parts.scheme}://{parts.netloc}"
    tail = url[len(head) :] if url.startswith(head) else url
    if tail.strip("/"):
        found.append(tail)
    if parts.path.strip("/"):
        found.append(parts.path)
    if parts.query:
        found.append(parts.query)
    if parts.fragment:
        found.append(parts.fragment)
    for segment in parts.path.split("/"):
        if len(segment) >= MIN_SEGMENT and segment.lower() not in COMMON_SEGMENTS:
            found.append(segment)
    found.extend(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
    found.extend(part for part in (parts.username, parts.password) if part)
    return found


def connector_secrets(config: Mapping[str, Any]) -> list[str]:
    """The secrets in a connector's decrypted configuration (any type, any new field)."""
    found: list[str] = []
    for key, value in config.items():
        if not isinstance(value, str) or not value:
            continue
        if key in URL_KEYS:
            found.extend(url_secrets(value))
        elif SECRET_KEY.search(key):
            found.append(value)
    return found


def settings_secrets(settings: Settings) -> list[str]:
    """Every `SecretStr` setting (bot token, database URLs, keys...), URLs also in parts."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if not isinstance(value, SecretStr):
            continue
        secret = value.get_secret_value()
        if not secret:
            continue
        found.append(secret)
        if "://" in secret:
            password = urlsplit(secret).password
            found.extend([password] if password else [])
        elif "," in secret:
            found.extend(part.strip() for part in secret.split(","))
    return found


class _Remembered:
    """The process's known secrets, for texts redacted without a connector in hand (the log
    processor): the settings' and those of every connector a redactor was made for. Kept to
    the most recent `REMEMBERED_MAX`; the secrets are in this process's memory anyway."""

    def __init__(self) -> None:
        self._secrets: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._compiled: re.Pattern[str] | None = None
        self._stale = False

    def add(self, secrets: Iterable[str | None]) -> None:
        with self._lock:
            for secret in secrets:
                if not secret or len(secret) < MIN_SECRET:
                    continue
                if secret in self._secrets:
                    self._secrets.move_to_end(secret)
                    continue
                self._secrets[secret] = None
                self._stale = True
                while len(self._secrets) > REMEMBERED_MAX:
                    self._secrets.popitem(last=False)

    def pattern(self) -> re.Pattern[str] | None:
        if self._stale:
            with self._lock:
                self._compiled = _pattern(list(self._secrets))
                self._stale = False
        return self._compiled


_remembered = _Remembered()


def remember(secrets: Iterable[str | None]) -> None:
    """Known secrets the log processor removes from every event from now on."""
    _remembered.add(secrets)


def remember_settings(settings: Settings) -> None:
    remember(settings_secrets(settings))


def redact_known(text: str) -> str:
    """`text` without the process's known secrets and without any secret's shape."""
    pattern = _remembered.pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return redact_shapes(text)


class Redactor:
    """Removes given secrets, the process's known ones, and every secret shape from a text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._pattern = _pattern(s for s in secrets if s)

    @classmethod
    def for_connector(cls, config: Mapping[str, Any], *extra: str | None) -> Redactor:
        """The redactor of a connector's texts; its secrets are remembered for the logs too."""
        secrets = [*connector_secrets(config), *(e for e in extra if e)]
        remember(secrets)
        return cls(secrets)

    @classmethod
    def for_request(cls, url: str, headers: Mapping[str, str]) -> Redactor:
        """The redactor of an HTTP answer: the URL's secrets and the secret headers' values."""
        secrets = url_secrets(url)
        for name, value in headers.items():
            if SECRET_HEADER.search(name):
                secrets.append(value)
                secrets.extend(value.split()[1:])  # the credentials after a scheme
        return cls(secrets)

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return redact_known(text)

    def failure(self, error: DeliveryError, *, limit: int | None = None) -> DeliveryError:
        """The same failure (same permanence and cause) with its message redacted, then cut
        to `limit` characters (cutting first could leave a secret's beginning behind)."""
        message = self(error.message)[:limit]
        if message == error.message:
            return error
        redacted = DeliveryError(message, permanent=error.permanent, retry_after=error.retry_after)
        redacted.__cause__ = error.__cause__
        return redacted

    def traceback(self, exc: BaseException) -> str:
        """An exception with its traceback, redacted, for a log line."""
        return self("".join(traceback.format_exception(exc)))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without `secrets`, the process's known secrets and any secret's shape."""
    return Redactor(secrets)(text)


def redact_optional(text: str | None) -> str | None:
    """`redact_known` for a column that may be empty (a stored `last_error`)."""
    return None if text is None else redact_known(text)


_by_token: OrderedDict[str, Redactor] = OrderedDict()
_BY_TOKEN_MAX = 1024


def delivery_redactor(box: SecretBox, config_token: str, settings: Settings) -> Redactor:
    """The redactor of a send through a connector (its encrypted configuration in hand):
    the connector's secrets and the process's (the bot token among them). Cached by the
    encrypted configuration, so a failing connector costs one decryption, not one a send."""
    cached = _by_token.get(config_token)
    if cached is not None:
        _by_token.move_to_end(config_token)
        return cached
    remember_settings(settings)
    try:
        config = box.decrypt_json(config_token)
    except Exception:
        return Redactor(settings_secrets(settings))
    made = Redactor.for_connector(config, *settings_secrets(settings))
    _by_token[config_token] = made
    while len(_by_token) > _BY_TOKEN_MAX:
        _by_token.popitem(last=False)
    return made
