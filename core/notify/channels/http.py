"""The HTTP client shared by webhook and WhatsApp sends: keep-alive, guarded, classified."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from yarl import URL

from core.netguard import PrivateAddressError, PublicOnlyResolver, refuse_private_literal
from core.notify.channels.base import DeliveryError

RETRYABLE_STATUS = frozenset({408, 425, 429})


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

    async def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> None:
        """POST and classify: 2xx done; 408/425/429/5xx/network transient; other codes permanent."""
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
                detail = (await response.text(errors="replace"))[:200]
        except PrivateAddressError as exc:
            raise DeliveryError(exc.message, permanent=True) from exc
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error if isinstance(exc.os_error, PrivateAddressError) else None
            if cause is not None:
                raise DeliveryError(cause.message, permanent=True) from exc
            raise DeliveryError(f"cannot connect: {exc.os_error}", permanent=False) from exc
        except TimeoutError as exc:
            raise DeliveryError("timed out", permanent=False) from exc
        except (aiohttp.ClientError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        if 200 <= status < 300:
            return
        message = f"HTTP {status}" + (f": {detail}" if detail.strip() else "")
        permanent = status < 500 and status not in RETRYABLE_STATUS
        raise DeliveryError(message, permanent=permanent)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def text_of(config: dict[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"connector configuration lacks {key}", permanent=True)
    return value
