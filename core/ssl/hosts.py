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

from core.errors import ValidationError
from core.netguard import non_public_reason

DEFAULT_PORT = 443
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
PRIVATE_HINT = "set ALLOW_PRIVATE_TARGETS=true to watch intranet hosts"


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
        raise ValidationError("give a host name, e.g. example.com or example.com:8443")
    if "://" in raw or "/" in raw:
        raise ValidationError(
            f"{raw!r} looks like a URL: give just the host name and optional port, "
            "e.g. example.com or example.com:8443"
        )
    if raw.startswith("[") or raw.count(":") > 1:
        raise ValidationError(
            f"{raw!r} is an IP address: Intrex watches certificates by host name, "
            "so give the name the certificate is issued for"
        )
    host, separator, port_text = raw.partition(":")
    port = parse_port(port_text, raw) if separator else DEFAULT_PORT
    return HostPort(normalise_hostname(host), port)


def parse_port(text: str, whole: str) -> int:
    if not text.isdigit():
        raise ValidationError(f"the port in {whole!r} must be a number from 1 to 65535")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValidationError(f"port {port} in {whole!r} is out of range: use 1 to 65535")
    return port


def normalise_hostname(name: str) -> str:
    """Lowercase A-label form without the trailing dot; a clear refusal for anything else."""
    original = name
    name = name.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValidationError("the host name is empty")
    if _is_ip_literal(name):
        raise ValidationError(
            f"{original!r} is an IP address: Intrex watches certificates by host name, "
            "so give the name the certificate is issued for"
        )
    if not name.isascii():
        name = _to_a_labels(name, original)
    name = name.lower()
    labels = name.split(".")
    for label in labels:
        _check_label(label, original)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"the host name {original!r} is {len(name)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    if labels[-1].isdigit():
        raise ValidationError(
            f"{original!r} ends in a numeric label, so it is read as an IP address, not a host name"
        )
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
        raise ValidationError(
            f"{original!r} is not a valid internationalised host name: {exc}"
        ) from exc


def _check_label(label: str, original: str) -> None:
    if not label:
        raise ValidationError(f"{original!r} has an empty label (two dots in a row?)")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValidationError(
            f"the label {label[:20]}… of {original!r} is {len(label)} characters long; "
            f"each part between dots may have at most {MAX_LABEL_LENGTH}"
        )
    if not LDH_LABEL.fullmatch(label):
        bad = sorted({ch for ch in label if not (ch.isalnum() or ch == "-")})
        reason = (
            f"it contains {', '.join(repr(ch) for ch in bad)}"
            if bad
            else "a label may not start or end with '-'"
        )
        raise ValidationError(
            f"{original!r} is not a valid host name: {reason}; "
            "use letters, digits and '-' between dots"
        )
    if label.startswith("xn--"):
        try:
            idna.decode(label)
        except idna.IDNAError as exc:
            raise ValidationError(
                f"{original!r} has an invalid punycode label {label!r}: {exc}"
            ) from exc


def public_addresses(
    host: str, addresses: list[str], *, allow_private: bool, require_all: bool = False
) -> list[str]:
    """The addresses the checker may connect to; a clear refusal when none is allowed.

    `require_all` refuses a name with any non-public address (registering a domain);
    without it the non-public ones are dropped (checking: DNS may change after registration).
    """
    if allow_private:
        return addresses
    allowed: list[str] = []
    refused: list[str] = []
    for text in addresses:
        reason = non_public_reason(ipaddress.ip_address(text))
        if reason is None:
            allowed.append(text)
        else:
            refused.append(f"{text} ({reason})")
    if refused and (require_all or not allowed):
        raise ValidationError(
            f"{host} resolves to {', '.join(refused)}; Intrex only watches public hosts "
            f"({PRIVATE_HINT})"
        )
    return allowed
