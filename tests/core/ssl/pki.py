"""A throwaway PKI for the tests and the benchmark: root, intermediate, leaves, as PEM files.

ECDSA P-256 keys keep generation and handshakes fast; the checker does not care which
algorithm signs a chain.
"""

from __future__ import annotations

import ipaddress
import itertools
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_serials = itertools.count(1000)


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Intrex tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue_ca(common_name: str, issuer: Issued | None = None) -> Issued:
    """A CA certificate, self-signed (a root) or signed by `issuer` (an intermediate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(next(_serials))
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def issue_leaf(
    names: list[str],
    issuer: Issued | None,
    *,
    days_valid: float = 90,
    days_old: float = 10,
) -> Issued:
    """A server certificate for `names`, signed by `issuer` (self-signed when None).

    It is valid from `days_old` days ago until `days_valid` days from now (negative: expired).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = _name(names[0] if names else "no-name")
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(next(_serials))
        .not_valid_before(now - timedelta(days=days_old))
        .not_valid_after(now + timedelta(days=days_valid))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


class Pki:
    """A trusted root and intermediate (the root goes into SSL_CA_FILE), and an untrusted pair."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.root = issue_ca("Intrex Test Root CA")
        self.intermediate = issue_ca("Intrex Test Intermediate CA", self.root)
        self.rogue_root = issue_ca("Unknown Root CA")
        self.rogue_intermediate = issue_ca("Unknown Intermediate CA", self.rogue_root)
        self.ca_file = directory / "trusted-root.pem"
        self.ca_file.write_bytes(self.root.pem)
        self._files = itertools.count()

    def leaf(self, *names: str, days_valid: float = 90, days_old: float = 10) -> Issued:
        """A leaf from the trusted intermediate."""
        return issue_leaf(list(names), self.intermediate, days_valid=days_valid, days_old=days_old)

    def server_context(self, leaf: Issued, *chain: Issued) -> ssl.SSLContext:
        """A server context presenting `leaf` followed by `chain` (intermediates)."""
        number = next(self._files)
        cert_file = self.directory / f"server-{number}.pem"
        key_file = self.directory / f"server-{number}.key"
        cert_file.write_bytes(leaf.pem + b"".join(item.pem for item in chain))
        key_file.write_bytes(leaf.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context
