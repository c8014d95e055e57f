"""What a monitored host may be: parsing `HOST[:PORT]`, normalising names, refusing targets.

Names are stored in one canonical form (lowercase A-labels, no trailing dot) so that
`Example.COM.`, `example.com` and their Unicode spellings are one domain, and so the
uniqueness constraint on (tenant, hostname, port) really means one row per target.
Addresses that are not public are refused unless `ALLOW_PRIVATE_TARGETS` says otherwise:
the checker connects where a chat user points it, so it must not become a probe into the
network Intrex runs in.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import idna

from core.errors import ErrorCode, ValidationError
from core.netguard import is_public_address

DEFAULT_PORT = 443
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True, order=True)
class HostPort:
    """A normalised target: A-label hostname and TCP port."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    """Parse and normalise `HOST[:PORT]`, refusing what cannot be a monitored host name."""
    raw = text.strip()
    if not raw:
        raise ValidationError(ErrorCode.host_missing)
    if "://" in raw or "/" in raw:
        raise ValidationError(ErrorCode.host_is_url, value=raw)
    if raw.startswith("[") or raw.count(":") > 1:
        raise ValidationError(ErrorCode.host_is_ip, value=raw)
    host, separator, port_text = raw.partition(":")
    port = parse_port(port_text, raw) if separator else DEFAULT_PORT
    return HostPort(normalise_hostname(host), port)


def parse_port(text: str, whole: str) -> int:
    if not text.isdigit():
        raise ValidationError(ErrorCode.port_not_number, value=whole)
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValidationError(ErrorCode.port_out_of_range, port=text, value=whole)
    return port


def normalise_hostname(name: str) -> str:
    """Lowercase A-label form without the trailing dot; a clear refusal for anything else."""
    original = name
    name = name.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValidationError(ErrorCode.host_name_empty)
    if _is_ip_literal(name):
        raise ValidationError(ErrorCode.host_is_ip, value=original)
    if not name.isascii():
        name = _to_a_labels(name, original)
    name = name.lower()
    labels = name.split(".")
    for label in labels:
        _check_label(label, original)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            ErrorCode.host_name_too_long, value=original, length=len(name), limit=MAX_NAME_LENGTH
        )
    if labels[-1].isdigit():
        raise ValidationError(ErrorCode.host_numeric_label, value=original)
    return name


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _to_a_labels(name: str, original: str) -> str:
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValidationError(ErrorCode.host_invalid, value=original, reason=str(exc)) from exc


def _check_label(label: str, original: str) -> None:
    if not label:
        raise ValidationError(ErrorCode.host_label_empty, value=original)
    if len(label) > MAX_LABEL_LENGTH:
        raise ValidationError(
            ErrorCode.host_label_too_long,
            label=label[:20],
            value=original,
            length=len(label),
            limit=MAX_LABEL_LENGTH,
        )
    if not LDH_LABEL.fullmatch(label):
        bad = sorted({ch for ch in label if not (ch.isalnum() or ch == "-")})
        if not bad:
            raise ValidationError(ErrorCode.host_label_hyphen, value=original)
        characters = ", ".join(repr(ch) for ch in bad)
        raise ValidationError(
            ErrorCode.host_label_characters, value=original, characters=characters
        )
    if label.startswith("xn--"):
        try:
            idna.decode(label)
        except idna.IDNAError as exc:
            raise ValidationError(ErrorCode.host_invalid, value=original, reason=str(exc)) from exc


def public_addresses(
    host: str, addresses: list[str], *, allow_private: bool, require_all: bool = False
) -> list[str]:
    """The addresses the checker may connect to; refused (naming them) when none is allowed.

    `require_all` refuses a name with any non-public address (registering a domain);
    without it the non-public ones are dropped (checking: DNS may change after registration).
    """
    if allow_private:
        return addresses
    allowed: list[str] = []
    refused: list[str] = []
    for text in addresses:
        (allowed if is_public_address(text) else refused).append(text)
    if refused and (require_all or not allowed):
        raise ValidationError(ErrorCode.host_private, target=host, address=", ".join(refused))
    return allowed
