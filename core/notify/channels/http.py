"""The HTTP client shared by webhook and WhatsApp sends: keep-alive, guarded, classified."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from yarl import URL

from core.netguard import PublicOnlyResolver, private_refusal, refuse_private_literal
from core.notify.channels.base import DeliveryError
from core.notify.redaction import Redactor

RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_ANSWER_BYTES = 4096
"""How much of a refusing receiver's answer is read: enough to redact, then quote."""
MAX_MESSAGE = 240
"""A failure's text is cut to this, after redaction."""


class HttpRefused(DeliveryError):
    """A non-2xx answer, with its status and body for a channel that reads the provider's
    own error in it (WhatsApp's Graph error codes)."""

    def __init__(self, message: str, *, permanent: bool, status: int, body: str) -> None:
        super().__init__(message, permanent=permanent)
        self.status = status
        self.body = body


class GuardedHttp:
    """One keep-alive session per process; refuses private targets at connect time."""

    def __init__(self, *, timeout_seconds: float, allow_private: bool) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=PublicOnlyResolver(allow_private=self._allow_private),
                limit=200,
                ttl_dns_cache=60,
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> str:
        """POST and classify: 2xx done (the answer's text is returned); 408/425/429/5xx/network
        transient; other codes permanent (`HttpRefused`, with the answer's first bytes).

        A failure's text never carries the request's secrets: a receiver that echoes the
        URL or the Authorization header is redacted (`Redactor.for_request`) before the
        answer is cut to its first characters, so no part of a secret survives the cut.
        """
        try:
            return await self._post(url, body=body, headers=headers)
        except HttpRefused as exc:
            redactor = Redactor.for_request(url, headers)  # on failure only: off the hot path
            raise HttpRefused(
                redactor(exc.message)[:MAX_MESSAGE],
                permanent=exc.permanent,
                status=exc.status,
                body=redactor(exc.body),
            ) from exc.__cause__
        except DeliveryError as exc:
            redactor = Redactor.for_request(url, headers)
            raise redactor.failure(exc, limit=MAX_MESSAGE) from exc.__cause__

    async def _post(self, url: str, *, body: bytes, headers: dict[str, str]) -> str:
        try:
            target = URL(url)
        except ValueError as exc:
            raise DeliveryError(f"invalid URL: {exc}", permanent=True) from exc
        if target.scheme not in ("http", "https") or not target.host:
            raise DeliveryError("the URL must be http:// or https:// with a host", permanent=True)
        try:
            refuse_private_literal(target.host, allow_private=self._allow_private)
            async with self._client().post(
                target, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return await response.text(errors="replace")
                answer = await response.content.read(MAX_ANSWER_BYTES)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            refusal = private_refusal(exc)
            if refusal is not None:
                raise DeliveryError(refusal.message, permanent=True) from exc
            if isinstance(exc, aiohttp.ClientConnectorError):
                raise DeliveryError(f"cannot connect: {exc.os_error}", permanent=False) from exc
            if isinstance(exc, TimeoutError):
                raise DeliveryError("timed out", permanent=False) from exc
            if isinstance(exc, aiohttp.ClientError):
                raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
            raise
        detail = answer.decode("utf-8", errors="replace")
        message = f"HTTP {status}" + (f": {detail}" if detail.strip() else "")
        permanent = status < 500 and status not in RETRYABLE_STATUS
        raise HttpRefused(message, permanent=permanent, status=status, body=detail)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def text_of(config: dict[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"connector configuration lacks {key}", permanent=True)
    return value
