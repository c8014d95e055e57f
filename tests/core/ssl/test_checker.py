"""The checker against real TLS servers on 127.0.0.1: one test per status and precedence rule.

Certificates come from the test PKI (trusted through SSL_CA_FILE); names are resolved by
an injected table, so nothing is written to the system's resolver configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Settings
from core.db.enums import SslCheckStatus
from core.ssl.checker import CheckOutcome, SslChecker, StaticResolver
from core.ssl.hosts import HostPort
from tests.core.ssl.pki import Pki, issue_leaf
from tests.core.ssl.servers import LoopbackServers, refused_port

LOOPBACK = ["127.0.0.1"]
RESOLVER = StaticResolver({"*.intrex.test": LOOPBACK})


@dataclass
class Ports:
    chain: int
    no_intermediate: int
    self_signed: int
    unknown_ca: int
    expired: int
    expired_self_signed: int
    expired_other_name: int
    other_name: int
    self_signed_other_name: int
    wildcard: int
    expiring: int
    expiring_other_name: int
    plain: int
    silent: int


@pytest.fixture(scope="module")
def ports(pki: Pki, servers: LoopbackServers) -> Ports:
    def serve(leaf: object, *chain: object) -> int:
        return servers.tls(pki.server_context(leaf, *chain)).port  # type: ignore[arg-type]

    inter = pki.intermediate
    rogue = pki.rogue_intermediate
    return Ports(
        chain=serve(pki.leaf("chain.intrex.test"), inter),
        no_intermediate=serve(pki.leaf("nochain.intrex.test")),
        self_signed=serve(issue_leaf(["self.intrex.test"], None)),
        unknown_ca=serve(issue_leaf(["rogue.intrex.test"], rogue), rogue, pki.rogue_root),
        expired=serve(pki.leaf("expired.intrex.test", days_valid=-3), inter),
        expired_self_signed=serve(issue_leaf(["oldself.intrex.test"], None, days_valid=-3)),
        expired_other_name=serve(pki.leaf("elsewhere.example", days_valid=-3), inter),
        other_name=serve(pki.leaf("elsewhere.example"), inter),
        self_signed_other_name=serve(issue_leaf(["elsewhere.example"], None)),
        wildcard=serve(pki.leaf("*.wild.intrex.test"), inter),
        expiring=serve(pki.leaf("soon.intrex.test", days_valid=10.5), inter),
        expiring_other_name=serve(pki.leaf("elsewhere.example", days_valid=10.5), inter),
        plain=servers.plain(),
        silent=servers.silent(),
    )


def checker(pki: Pki, *, timeout: float = 5, **overrides: object) -> SslChecker:
    options: dict[str, object] = {"allow_private_targets": True, **overrides}
    settings = Settings(
        ssl_ca_file=pki.ca_file,
        ssl_timeout_seconds=timeout,
        **options,  # type: ignore[arg-type]
    )
    return SslChecker.from_settings(settings, resolver=RESOLVER)


async def check(pki: Pki, host: str, port: int, **options: object) -> CheckOutcome:
    return await checker(pki, **options).check(HostPort(host, port))  # type: ignore[arg-type]


async def test_valid_chain_through_an_intermediate_is_ok(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "chain.intrex.test", ports.chain)
    assert outcome.status is SslCheckStatus.ok, outcome.error_detail
    assert outcome.error_detail is None
    assert outcome.days_remaining == 89
    cert = outcome.certificate
    assert cert is not None
    assert cert.issuer_cn == "Intrex Test Intermediate CA"
    assert cert.dns_names == ("chain.intrex.test",)
    assert len(cert.fingerprint_sha256) == 64
    assert cert.valid_from < datetime.now(UTC) < cert.valid_to
    assert outcome.result_fields()["check_status"] is SslCheckStatus.ok


async def test_missing_intermediate_is_a_handshake_failure(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "nochain.intrex.test", ports.no_intermediate)
    assert outcome.status is SslCheckStatus.handshake_failed
    assert outcome.error_detail == (
        "certificate verify failed: unable to get local issuer certificate"
    )
    assert outcome.certificate is not None, "the leaf is still read for the record"


async def test_self_signed_is_a_handshake_failure(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "self.intrex.test", ports.self_signed)
    assert outcome.status is SslCheckStatus.handshake_failed
    assert outcome.error_detail == "certificate verify failed: self-signed certificate"


async def test_unknown_ca_is_a_handshake_failure(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "rogue.intrex.test", ports.unknown_ca)
    assert outcome.status is SslCheckStatus.handshake_failed
    assert outcome.error_detail == (
        "certificate verify failed: self-signed certificate in certificate chain"
    )
    assert outcome.certificate is not None
    assert outcome.certificate.issuer_cn == "Unknown Intermediate CA"


async def test_expired_certificate_is_expired(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "expired.intrex.test", ports.expired)
    assert outcome.status is SslCheckStatus.expired
    assert outcome.days_remaining == -3
    assert outcome.error_detail is not None
    assert "certificate has expired" in outcome.error_detail


async def test_expired_beats_untrusted(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "oldself.intrex.test", ports.expired_self_signed)
    assert outcome.status is SslCheckStatus.expired
    assert outcome.error_detail is not None
    assert outcome.error_detail.endswith("certificate verify failed: self-signed certificate")


async def test_expired_beats_hostname_mismatch(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "expired-other.intrex.test", ports.expired_other_name)
    assert outcome.status is SslCheckStatus.expired


async def test_certificate_for_another_name_is_a_mismatch(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "other.intrex.test", ports.other_name)
    assert outcome.status is SslCheckStatus.hostname_mismatch
    assert outcome.error_detail is not None
    assert outcome.error_detail.startswith(
        "certificate is for elsewhere.example, not other.intrex.test"
    )


async def test_hostname_mismatch_beats_untrusted(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "selfother.intrex.test", ports.self_signed_other_name)
    assert outcome.status is SslCheckStatus.hostname_mismatch
    assert outcome.error_detail is not None
    assert "self-signed certificate" in outcome.error_detail


async def test_wildcard_covers_one_label(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "www.wild.intrex.test", ports.wildcard)
    assert outcome.status is SslCheckStatus.ok, outcome.error_detail


async def test_wildcard_does_not_cover_two_labels(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "a.www.wild.intrex.test", ports.wildcard)
    assert outcome.status is SslCheckStatus.hostname_mismatch


async def test_wildcard_does_not_cover_its_bare_suffix(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "wild.intrex.test", ports.wildcard)
    assert outcome.status is SslCheckStatus.hostname_mismatch


async def test_expiring_within_the_warning_window_is_a_warning(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "soon.intrex.test", ports.expiring)
    assert outcome.status is SslCheckStatus.warning
    assert outcome.days_remaining == 10
    assert outcome.error_detail is None


async def test_warning_window_follows_the_setting(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "soon.intrex.test", ports.expiring, ssl_warning_days=7)
    assert outcome.status is SslCheckStatus.ok


async def test_mismatch_beats_warning(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "soonother.intrex.test", ports.expiring_other_name)
    assert outcome.status is SslCheckStatus.hostname_mismatch


async def test_plain_tcp_without_tls_is_a_handshake_failure(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "plain.intrex.test", ports.plain)
    assert outcome.status is SslCheckStatus.handshake_failed
    assert outcome.error_detail is not None
    assert "does not seem to speak TLS" in outcome.error_detail
    assert outcome.certificate is None


async def test_port_that_accepts_but_never_answers_times_out(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "silent.intrex.test", ports.silent, timeout=0.3)
    assert outcome.status is SslCheckStatus.timeout
    assert outcome.error_detail == (
        f"TLS handshake with 127.0.0.1:{ports.silent} not finished within 0.3 s"
    )
    assert 0.3 <= outcome.elapsed_seconds < 1.5


async def test_refused_port_is_a_handshake_failure_not_a_timeout(pki: Pki) -> None:
    port = refused_port()
    outcome = await check(pki, "refused.intrex.test", port)
    assert outcome.status is SslCheckStatus.handshake_failed
    assert outcome.error_detail == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert outcome.elapsed_seconds < 1


async def test_name_that_does_not_resolve_is_dns_failed(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "nowhere.example", ports.chain)
    assert outcome.status is SslCheckStatus.dns_failed
    assert outcome.error_detail == "nowhere.example does not resolve: Name or service not known"


async def test_resolution_that_never_finishes_is_dns_failed(pki: Pki) -> None:
    async def stuck(host: str, port: int) -> list[str]:
        await asyncio.sleep(60)
        return LOOPBACK

    settings = Settings(ssl_timeout_seconds=0.2, allow_private_targets=True)
    outcome = await SslChecker.from_settings(settings, resolver=stuck).check(
        HostPort("slow.intrex.test")
    )
    assert outcome.status is SslCheckStatus.dns_failed
    assert outcome.error_detail == "resolving slow.intrex.test did not finish within 0.2 s"


async def test_private_addresses_are_not_contacted_unless_allowed(pki: Pki, ports: Ports) -> None:
    outcome = await check(pki, "chain.intrex.test", ports.chain, allow_private_targets=False)
    assert outcome.status is SslCheckStatus.dns_failed
    assert outcome.error_detail is not None
    assert "resolves to a private or local address (127.0.0.1)" in outcome.error_detail


async def test_next_address_is_tried_after_a_refusal(pki: Pki, ports: Ports) -> None:
    resolver = StaticResolver({"multi.intrex.test": ["::1", "127.0.0.2", "127.0.0.1"]})
    settings = Settings(ssl_ca_file=pki.ca_file, allow_private_targets=True)
    outcome = await SslChecker.from_settings(settings, resolver=resolver).check(
        HostPort("multi.intrex.test", ports.wildcard)
    )
    assert outcome.status is SslCheckStatus.hostname_mismatch
    assert outcome.address == "127.0.0.1"


async def test_one_silent_host_does_not_hold_up_the_others(pki: Pki, ports: Ports) -> None:
    targets = [HostPort("silent.intrex.test", ports.silent)] * 3 + [
        HostPort(f"h{n}.wild.intrex.test", ports.wildcard) for n in range(40)
    ]
    fast = checker(pki, timeout=2, ssl_concurrency=4)
    order: list[SslCheckStatus] = []
    started = asyncio.get_running_loop().time()
    async for _, outcome in fast.check_each(targets, lambda target: target):
        order.append(outcome.status)
    elapsed = asyncio.get_running_loop().time() - started
    assert order[:40] == [SslCheckStatus.ok] * 40, "the healthy hosts finish first"
    assert order[40:] == [SslCheckStatus.timeout] * 3
    assert elapsed < 3.5


async def test_unreadable_ca_file_is_refused_clearly(tmp_path: Path) -> None:
    from core.errors import ValidationError

    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ValidationError, match=r"SSL_CA_FILE .* cannot be loaded"):
        SslChecker.from_settings(Settings(ssl_ca_file=bogus))


async def test_an_unexpected_error_fails_one_check_not_the_batch(pki: Pki, ports: Ports) -> None:
    async def flaky(host: str, port: int) -> list[str]:
        if host.startswith("broken"):
            raise RuntimeError("resolver bug")
        return LOOPBACK

    settings = Settings(ssl_ca_file=pki.ca_file, allow_private_targets=True)
    sturdy = SslChecker.from_settings(settings, resolver=flaky)
    targets = [
        HostPort(f"{name}.wild.intrex.test", ports.wildcard) for name in ("a", "broken", "b")
    ]
    outcomes = {
        target.host: outcome
        async for target, outcome in sturdy.check_each(targets, lambda target: target)
    }
    assert outcomes["a.wild.intrex.test"].status is SslCheckStatus.ok
    assert outcomes["b.wild.intrex.test"].status is SslCheckStatus.ok
    broken = outcomes["broken.wild.intrex.test"]
    assert broken.status is SslCheckStatus.handshake_failed
    assert broken.error_detail == "the check failed unexpectedly: RuntimeError: resolver bug"


async def test_a_failing_source_raises_after_the_running_checks(pki: Pki, ports: Ports) -> None:
    async def two_then_broken() -> AsyncIterator[HostPort]:
        yield HostPort("a.wild.intrex.test", ports.wildcard)
        yield HostPort("b.wild.intrex.test", ports.wildcard)
        raise ConnectionError("claim query failed")

    seen: list[str] = []

    async def consume() -> None:
        async for target, _ in checker(pki).check_each(two_then_broken(), lambda t: t):
            seen.append(target.host)

    with pytest.raises(ConnectionError, match="claim query failed"):
        await asyncio.wait_for(consume(), timeout=5)
    assert sorted(seen) == ["a.wild.intrex.test", "b.wild.intrex.test"]
