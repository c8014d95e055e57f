"""The certificate check: resolve, connect, handshake with verification, classify (SPEC §4).

One check is bounded by one deadline covering name resolution, the TCP connection and
the handshake(s), so a slow or hostile host costs at most `SSL_TIMEOUT_SECONDS` of one of
the `SSL_CONCURRENCY` slots and never stalls the others. The verified handshake is the
authority for "valid"; when it fails, a second, unverified handshake fetches the leaf so
that an expired certificate or one for another name is reported as such and not as a
generic handshake failure (OpenSSL names only the first problem it finds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from core.clock import utc_now
from core.config import Settings
from core.db.enums import SslCheckStatus
from core.errors import ErrorCode, ValidationError
from core.ssl.certificates import CertificateFacts, read_certificate
from core.ssl.hosts import HostPort, public_addresses

T = TypeVar("T")
log = logging.getLogger(__name__)

FAILURE_STATUSES = frozenset(
    {
        SslCheckStatus.expired,
        SslCheckStatus.hostname_mismatch,
        SslCheckStatus.handshake_failed,
        SslCheckStatus.dns_failed,
        SslCheckStatus.timeout,
    }
)
"""Statuses that open (or continue) a failure episode; `ok` and `warning` are healthy."""

RECEIVE_SIZE = 16 * 1024
"""One TLS record at most: enough for any handshake message flight in a few reads."""

HOSTNAME_MISMATCH_CODE = 62
"""OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH."""

_OPENSSL_NOISE = re.compile(r"^\[SSL(?:: [A-Z0-9_]+)?\] |\s*\(_ssl\.c:\d+\)$")


class ResolutionError(Exception):
    """The name does not resolve; `detail` says how (NXDOMAIN, no address, ...)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Resolver(Protocol):
    """Turns a host name into the IP addresses to try, in order; raises ResolutionError."""

    async def __call__(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo) on a thread pool of its own.

    `loop.getaddrinfo` would use the loop's default executor, which has only a few threads
    (CPU count + 4): a handful of names whose DNS servers never answer would then hold
    every lookup of the round behind them. A dedicated, larger pool keeps them apart.
    """

    def __init__(self, max_workers: int = 64) -> None:
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="intrex-dns")

    async def __call__(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.run_in_executor(
                self._executor,
                socket.getaddrinfo,
                host,
                port,
                socket.AF_UNSPEC,
                socket.SOCK_STREAM,
            )
        except socket.gaierror as exc:
            raise ResolutionError(exc.strerror or str(exc)) from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise ResolutionError("no address")
        return addresses

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class StaticResolver:
    """Answers from a fixed table instead of DNS: tests, benchmarks, pinned intranet names.

    Keys are host names, or `*.suffix` for every name under that suffix.
    """

    def __init__(self, table: dict[str, list[str]]) -> None:
        self._table = {name.lower(): addresses for name, addresses in table.items()}

    async def __call__(self, host: str, port: int) -> list[str]:
        host = host.lower()
        if host in self._table:
            return self._table[host]
        for name, addresses in self._table.items():
            if name.startswith("*.") and host.endswith(name[1:]):
                return addresses
        raise ResolutionError("Name or service not known")


_system_resolver: SystemResolver | None = None


def system_resolver() -> SystemResolver:
    """The process-wide system resolver, created on first use."""
    global _system_resolver
    if _system_resolver is None:
        _system_resolver = SystemResolver()
    return _system_resolver


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check, as stored in `ssl_check_results` and printed by the CLI."""

    host: str
    port: int
    status: SslCheckStatus
    checked_at: datetime
    elapsed_seconds: float
    certificate: CertificateFacts | None = None
    days_remaining: int | None = None
    error_detail: str | None = None
    address: str | None = None

    @property
    def is_failure(self) -> bool:
        return self.status in FAILURE_STATUSES

    def result_fields(self) -> dict[str, Any]:
        """The `ssl_check_results` columns this outcome fills."""
        cert = self.certificate
        return {
            "check_status": self.status,
            "valid_from": cert.valid_from if cert else None,
            "valid_to": cert.valid_to if cert else None,
            "days_remaining": self.days_remaining,
            "issuer_cn": cert.issuer_cn[:500] if cert and cert.issuer_cn else None,
            "fingerprint_sha256": cert.fingerprint_sha256 if cert else None,
            "error_detail": self.error_detail,
            "checked_at": self.checked_at,
        }


class _ConnectFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Probe:
    """The mutable state of one check while it runs: where it got to, what it learnt."""

    def __init__(self, target: HostPort) -> None:
        self.target = target
        self.started = time.perf_counter()
        self.phase = "resolve"
        self.address: str | None = None
        self.verify_failure: ssl.SSLCertVerificationError | None = None


class SslChecker:
    """Checks targets with bounded concurrency; build one per round (SSL contexts are costly)."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 10,
        concurrency: int = 200,
        warning_days: int = 30,
        ca_file: Path | None = None,
        allow_private: bool = False,
        resolver: Resolver | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.concurrency = concurrency
        self.warning_days = warning_days
        self.allow_private = allow_private
        self._resolver: Resolver = resolver or system_resolver()
        self._verified = _verified_context(ca_file)
        self._unverified = _unverified_context()
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver | None = None) -> SslChecker:
        return cls(
            timeout_seconds=settings.ssl_timeout_seconds,
            concurrency=settings.ssl_concurrency,
            warning_days=settings.ssl_warning_days,
            ca_file=settings.ssl_ca_file,
            allow_private=settings.allow_private_targets,
            resolver=resolver,
        )

    async def check(self, target: HostPort) -> CheckOutcome:
        """Check one target, waiting for a free slot if `concurrency` checks are running."""
        async with self._slots:
            return await self._check(target)

    async def check_each(
        self,
        items: Iterable[T] | AsyncIterable[T],
        target_of: Callable[[T], HostPort],
    ) -> AsyncIterator[tuple[T, CheckOutcome]]:
        """Check every item, yielding each with its outcome as it finishes.

        A feeder takes items while fewer than `concurrency` wait for a worker, so memory
        stays bounded however long the input is. If `items` itself fails (a claim query,
        say), the checks already taken finish and are yielded, then the error is raised.
        """
        room = asyncio.Semaphore(self.concurrency)
        pending: asyncio.Queue[T | None] = asyncio.Queue()
        finished: asyncio.Queue[tuple[T, CheckOutcome] | None] = asyncio.Queue()
        failures: list[Exception] = []

        async def feed() -> None:
            try:
                async for item in _as_async(items):
                    await room.acquire()
                    pending.put_nowait(item)
            except Exception as exc:
                failures.append(exc)
            finally:
                for _ in range(self.concurrency):
                    pending.put_nowait(None)

        async def work() -> None:
            try:
                while (item := await pending.get()) is not None:
                    room.release()
                    finished.put_nowait((item, await self.check(target_of(item))))
            except Exception as exc:
                failures.append(exc)
            finally:
                finished.put_nowait(None)

        tasks = [asyncio.create_task(feed())]
        tasks += [asyncio.create_task(work()) for _ in range(self.concurrency)]
        running = self.concurrency
        try:
            while running:
                entry = await finished.get()
                if entry is None:
                    running -= 1
                else:
                    yield entry
            if failures:
                raise failures[0]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _check(self, target: HostPort) -> CheckOutcome:
        probe = _Probe(target)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        try:
            async with asyncio.timeout_at(deadline):
                return await self._probe(probe)
        except TimeoutError:
            if probe.verify_failure is not None:
                return self._unread_leaf(probe, probe.verify_failure)
            return self._timed_out(probe)
        except Exception as exc:
            # Whatever a strange server provokes, it must not take the round down with it.
            log.warning("certificate check of %s failed unexpectedly", target, exc_info=True)
            return self._outcome(
                probe,
                SslCheckStatus.handshake_failed,
                detail=f"the check failed unexpectedly: {type(exc).__name__}: {exc}",
            )

    async def _probe(self, probe: _Probe) -> CheckOutcome:
        target = probe.target
        try:
            found = await self._resolver(target.host, target.port)
            addresses = public_addresses(target.host, found, allow_private=self.allow_private)
        except ResolutionError as exc:
            return self._outcome(
                probe, SslCheckStatus.dns_failed, detail=f"{target.host} does not resolve: {exc}"
            )
        except ValidationError as exc:
            return self._outcome(probe, SslCheckStatus.dns_failed, detail=exc.message)
        probe.phase = "connect"
        try:
            sock = await self._connect_any(probe, addresses)
        except _ConnectFailed as exc:
            return self._outcome(probe, SslCheckStatus.handshake_failed, detail=exc.detail)
        probe.phase = "handshake"
        try:
            der = await self._handshake(sock, self._verified, target.host)
        except ssl.SSLCertVerificationError as exc:
            return await self._classify_unverified(probe, exc)
        except ssl.SSLError as exc:
            return self._outcome(
                probe, SslCheckStatus.handshake_failed, detail=_tls_error_detail(exc)
            )
        except OSError as exc:
            return self._outcome(
                probe, SslCheckStatus.handshake_failed, detail=_connection_error_detail(exc)
            )
        try:
            facts = read_certificate(der)
        except ValueError as exc:
            return self._outcome(
                probe,
                SslCheckStatus.handshake_failed,
                detail=f"the server's certificate cannot be parsed: {exc}",
            )
        now = utc_now()
        days = facts.days_remaining(now)
        status = SslCheckStatus.warning if days <= self.warning_days else SslCheckStatus.ok
        return self._outcome(probe, status, certificate=facts, days_remaining=days, now=now)

    async def _classify_unverified(
        self, probe: _Probe, failure: ssl.SSLCertVerificationError
    ) -> CheckOutcome:
        """After a failed verification: fetch the leaf without verifying, then apply SPEC §4."""
        probe.verify_failure = failure
        assert probe.address is not None
        try:
            sock = await self._connect(probe.address, probe.target.port)
            facts = read_certificate(
                await self._handshake(sock, self._unverified, probe.target.host)
            )
        except (OSError, ValueError):
            return self._unread_leaf(probe, failure)
        now = utc_now()
        days = facts.days_remaining(now)
        detail = _verify_detail(failure)
        if facts.is_expired(now):
            status = SslCheckStatus.expired
            detail = f"certificate expired on {facts.valid_to:%Y-%m-%d %H:%M} UTC; {detail}"
        elif failure.verify_code == HOSTNAME_MISMATCH_CODE or not facts.covers(probe.target.host):
            status = SslCheckStatus.hostname_mismatch
            names = ", ".join(facts.dns_names) or "no DNS names"
            detail = f"certificate is for {names}, not {probe.target.host}; {detail}"
        else:
            status = SslCheckStatus.handshake_failed
        return self._outcome(
            probe, status, certificate=facts, days_remaining=days, detail=detail, now=now
        )

    def _unread_leaf(self, probe: _Probe, failure: ssl.SSLCertVerificationError) -> CheckOutcome:
        """Verification failed and the leaf could not be fetched again: go by OpenSSL's code."""
        status = (
            SslCheckStatus.hostname_mismatch
            if failure.verify_code == HOSTNAME_MISMATCH_CODE
            else SslCheckStatus.handshake_failed
        )
        return self._outcome(probe, status, detail=_verify_detail(failure))

    async def _connect_any(self, probe: _Probe, addresses: list[str]) -> socket.socket:
        """A TCP connection to the first address that accepts (a refusal is not a timeout)."""
        failures: list[str] = []
        for address in addresses:
            probe.address = address
            try:
                return await self._connect(address, probe.target.port)
            except OSError as exc:
                reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
                failures.append(f"{_endpoint(address, probe.target.port)}: {reason}")
        raise _ConnectFailed(f"cannot connect to {'; '.join(failures)}")

    async def _connect(self, address: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
        except BaseException:
            sock.close()
            raise
        return sock

    async def _handshake(
        self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str
    ) -> bytes:
        """Complete a TLS handshake on `sock` and return the peer's leaf certificate (DER).

        The handshake is driven through memory BIOs straight over the socket: a check needs
        no transport, and asyncio's SSL transport would allocate a 256 KiB buffer per
        connection, which at `SSL_CONCURRENCY` connections dominates the round's memory.
        The socket is always closed; there is nothing to say after the handshake.
        """
        loop = asyncio.get_running_loop()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pending = outgoing.read()
                    if pending:
                        await loop.sock_sendall(sock, pending)
                    received = await loop.sock_recv(sock, RECEIVE_SIZE)
                    if not received:
                        raise ConnectionResetError("closed by the server") from None
                    incoming.write(received)
            der = tls.getpeercert(binary_form=True)
        finally:
            _send_last_words(sock, outgoing)
            sock.close()
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        return bytes(der)

    def _timed_out(self, probe: _Probe) -> CheckOutcome:
        seconds = f"{self.timeout_seconds:g} s"
        where = _endpoint(probe.address, probe.target.port) if probe.address else ""
        if probe.phase == "resolve":
            return self._outcome(
                probe,
                SslCheckStatus.dns_failed,
                detail=f"resolving {probe.target.host} did not finish within {seconds}",
            )
        if probe.phase == "connect":
            detail = f"no TCP connection to {where} within {seconds}"
        else:
            detail = f"TLS handshake with {where} not finished within {seconds}"
        return self._outcome(probe, SslCheckStatus.timeout, detail=detail)

    def _outcome(
        self,
        probe: _Probe,
        status: SslCheckStatus,
        *,
        certificate: CertificateFacts | None = None,
        days_remaining: int | None = None,
        detail: str | None = None,
        now: datetime | None = None,
    ) -> CheckOutcome:
        return CheckOutcome(
            host=probe.target.host,
            port=probe.target.port,
            status=status,
            checked_at=utc_now(now),
            elapsed_seconds=time.perf_counter() - probe.started,
            certificate=certificate,
            days_remaining=days_remaining,
            error_detail=detail,
            address=probe.address,
        )


async def _as_async(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def _verified_context(ca_file: Path | None) -> ssl.SSLContext:
    """System trust store plus SSL_CA_FILE, hostname checked on SAN DNS names only."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValidationError(
                ErrorCode.ssl_ca_file_unloadable, path=str(ca_file), error=str(exc)
            ) from exc
    context.hostname_checks_common_name = False
    return context


def _unverified_context() -> ssl.SSLContext:
    """Only for reading the leaf after a failed verification: nothing it returns is trusted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _endpoint(address: str | None, port: int) -> str:
    return f"[{address}]:{port}" if address and ":" in address else f"{address}:{port}"


def _verify_detail(failure: ssl.SSLCertVerificationError) -> str:
    return f"certificate verify failed: {failure.verify_message}"


def _tls_error_detail(exc: ssl.SSLError) -> str:
    reason = _OPENSSL_NOISE.sub("", str(exc.args[1] if len(exc.args) > 1 else exc))
    if exc.reason == "WRONG_VERSION_NUMBER":
        return f"TLS handshake failed: {reason} (the port does not seem to speak TLS)"
    return f"TLS handshake failed: {reason}"


def _connection_error_detail(exc: OSError) -> str:
    if isinstance(exc, ConnectionError):
        reason = f" ({os.strerror(exc.errno).lower()})" if exc.errno else ""
        return f"the server closed the connection during the TLS handshake{reason}"
    return f"connection failed during the TLS handshake: {exc}"


def _send_last_words(sock: socket.socket, outgoing: ssl.MemoryBIO) -> None:
    """Best effort, never waiting: our Finished message or the alert saying why we leave."""
    pending = outgoing.read()
    if pending:
        with contextlib.suppress(OSError):
            sock.send(pending)
