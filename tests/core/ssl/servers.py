"""Real servers on 127.0.0.1 for the checker to talk to, on an event loop in their own thread.

A thread of their own lets the same servers serve async tests and CLI tests that wait on a
subprocess. A TLS endpoint's certificate can be swapped between checks (renewal, a CDN
alternating two certificates) through the SNI callback.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

PLAIN_REPLY = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Hold(asyncio.Protocol):
    """Accepts a connection and keeps it open, saying nothing (until the peer goes)."""

    def __init__(self, held: set[asyncio.Transport]) -> None:
        self.held = held

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.held.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.held.discard(self.transport)


class _PlainText(asyncio.Protocol):
    """Answers whatever arrives with a plain HTTP error, as a non-TLS service would."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(PLAIN_REPLY)
        self.transport.close()


class TlsEndpoint:
    """A TLS listener whose current certificate can be replaced at any time."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.current = context
        self.port = 0

    def use(self, context: ssl.SSLContext) -> None:
        self.current = context

    def dispatching_context(self) -> ssl.SSLContext:
        """The listener's context: it hands each connection to `current` by SNI callback."""
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

        def pick(ssl_object: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            ssl_object.context = self.current

        base.sni_callback = pick
        return base


class LoopbackServers:
    """Starts and stops loopback servers on a private event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, context: None)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[asyncio.Server] = []
        self._held: set[asyncio.Transport] = set()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _listen(self, factory: Any, context: ssl.SSLContext | None = None) -> int:
        server = await self.loop.create_server(factory, "127.0.0.1", 0, ssl=context)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def tls(self, context: ssl.SSLContext) -> TlsEndpoint:
        endpoint = TlsEndpoint(context)
        endpoint.port = self._run(
            self._listen(lambda: _Hold(self._held), endpoint.dispatching_context())
        )
        return endpoint

    def plain(self) -> int:
        """A port that speaks plain text, not TLS."""
        return self._run(self._listen(_PlainText))

    def silent(self) -> int:
        """A port that accepts connections and never says a word."""
        return self._run(self._listen(lambda: _Hold(self._held)))

    def close(self) -> None:
        async def stop() -> None:
            for transport in list(self._held):
                transport.abort()
            for server in self._servers:
                server.close()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


def refused_port() -> int:
    """A loopback port where nothing listens (bound, then released), so connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def loopback_servers() -> Iterator[LoopbackServers]:
    servers = LoopbackServers()
    try:
        yield servers
    finally:
        servers.close()
