"""Reading a leaf certificate: validity, issuer, names, fingerprint, and whether it covers a host.

The hostname rule is the one browsers apply (RFC 6125 / CA/B Forum): only the DNS names
of subjectAltName count, a wildcard is the whole left-most label and stands for exactly
one label. The checker uses it to tell `hostname_mismatch` from other failures when the
verified handshake already failed for another reason (OpenSSL reports only the first).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificateFacts:
    """What Intrex keeps of a leaf certificate."""

    valid_from: datetime
    valid_to: datetime
    issuer_cn: str | None
    subject_cn: str | None
    dns_names: tuple[str, ...]
    fingerprint_sha256: str

    def covers(self, hostname: str) -> bool:
        return any(name_matches(pattern, hostname) for pattern in self.dns_names)

    def is_expired(self, now: datetime) -> bool:
        return self.valid_to < now

    def days_remaining(self, now: datetime) -> int:
        """Whole days left, rounded toward zero: 29.9 days is 29; expired 3.5 days ago is -3."""
        return int((self.valid_to - now) / timedelta(days=1))


def _common_name(name: x509.Name) -> str | None:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def read_certificate(der: bytes) -> CertificateFacts:
    """Parse a DER leaf certificate (raises ValueError on garbage)."""
    certificate = x509.load_der_x509_certificate(der)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = tuple(name.lower() for name in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    return CertificateFacts(
        valid_from=certificate.not_valid_before_utc,
        valid_to=certificate.not_valid_after_utc,
        issuer_cn=_common_name(certificate.issuer),
        subject_cn=_common_name(certificate.subject),
        dns_names=dns_names,
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
    )


def name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching of one SAN DNS name against an A-label hostname."""
    pattern = pattern.lower().rstrip(".")
    hostname = hostname.lower().rstrip(".")
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == hostname
    suffix = pattern[2:]
    if "*" in suffix or suffix.count(".") < 1:
        return False
    head, dot, rest = hostname.partition(".")
    return bool(dot) and bool(head) and rest == suffix
