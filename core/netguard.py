"""Refusing user-supplied network targets on private, loopback or link-local addresses.

The check runs where the connection is made (an aiohttp resolver), so a name that resolves
to a public address when saved and to 127.0.0.1 when used (DNS rebinding) is still refused.
`ALLOW_PRIVATE_TARGETS=true` lifts it for intranets and tests.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from core.errors import ErrorCode, ValidationError


class PrivateAddressError(ValidationError):
    """The target resolves to an address Intrex will not contact."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def non_public_reason(address: IPAddress) -> str | None:
    """Why an address is not a public one (loopback, private, link-local...), or None.

    IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified or address.is_reserved or not address.is_global:
        return "a reserved, non-public address"
    return None


def is_public_address(address: str) -> bool:
    """True for globally routable unicast addresses (a zone suffix like %eth0 is ignored)."""
    return non_public_reason(ipaddress.ip_address(address.split("%", 1)[0])) is None


def ip_literal(host: str) -> str | None:
    """The address if `host` is an IP literal (brackets allowed), else None."""
    candidate = host.strip("[]")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def refuse_private_literal(host: str, *, allow_private: bool) -> None:
    address = ip_literal(host)
    if address is not None and not allow_private and not is_public_address(address):
        raise PrivateAddressError(ErrorCode.target_private, host=host)


def private_refusal(exc: BaseException) -> PrivateAddressError | None:
    """The private-address refusal behind a connection failure, however the HTTP client
    wrapped it (raised as is, as an `os_error`, as a cause or context), or None.

    A refusal is permanent: the same name will resolve the same way on the next attempt,
    so a send refused here must not be retried as if the network had failed.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PrivateAddressError):
            return current
        wrapped = getattr(current, "os_error", None)
        pending += [
            wrapped if isinstance(wrapped, BaseException) else None,
            current.__cause__,
            current.__context__,
        ]
    return None


class PublicOnlyResolver(AbstractResolver):
    """An aiohttp resolver that drops every non-public address and refuses names with none left."""

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        public = [result for result in results if is_public_address(result["host"])]
        if not public:
            raise PrivateAddressError(ErrorCode.target_resolves_private, host=host)
        return public

    async def close(self) -> None:
        await self._inner.close()


__all__ = [
    "PrivateAddressError",
    "PublicOnlyResolver",
    "ip_literal",
    "is_public_address",
    "non_public_reason",
    "private_refusal",
    "refuse_private_literal",
]
