"""Domain rules: one canonical spelling per host, and a specific refusal for everything else."""

from __future__ import annotations

import ipaddress

import pytest

from core.errors import ErrorCode, ValidationError
from core.netguard import non_public_reason
from core.ssl.hosts import HostPort, parse_host_port, public_addresses


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("example.com", HostPort("example.com", 443)),
        ("  Example.COM.  ", HostPort("example.com", 443)),
        ("shop.example.com:8443", HostPort("shop.example.com", 8443)),
        ("bücher.example", HostPort("xn--bcher-kva.example", 443)),
        ("BÜCHER.example.:444", HostPort("xn--bcher-kva.example", 444)),
        ("xn--bcher-kva.example", HostPort("xn--bcher-kva.example", 443)),
        ("пример.рф", HostPort("xn--e1afmkfd.xn--p1ai", 443)),
        ("a-b.example:1", HostPort("a-b.example", 1)),
        ("x.example:65535", HostPort("x.example", 65535)),
    ],
)
def test_names_are_normalised(given: str, expected: HostPort) -> None:
    assert parse_host_port(given) == expected


def test_default_port_is_left_out_when_shown() -> None:
    assert str(parse_host_port("example.com:443")) == "example.com"
    assert str(parse_host_port("example.com:8443")) == "example.com:8443"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "Give a host name"),
        ("192.0.2.10", "is an IP address"),
        ("192.0.2.10:443", "is an IP address"),
        ("[2001:db8::1]:443", "is an IP address"),
        ("2001:db8::1", "is an IP address"),
        ("10.1.2", "numeric label"),
        ("example.com:0", "out of range: use 1 to 65535"),
        ("example.com:65536", "out of range: use 1 to 65535"),
        ("example.com:", "must be a number from 1 to 65535"),
        ("example.com:https", "must be a number from 1 to 65535"),
        ("https://example.com/", "looks like a URL"),
        ("exa mple.com", "contains ' '"),
        ("under_score.example.com", "contains '_'"),
        ("-lead.example.com", "may not start or end with '-'"),
        ("a..example.com", "empty label"),
        (".", "The host name is empty"),
        ("x" * 64 + ".example.com", "at most 63"),
        (".".join(["a" * 60] * 5), "the limit is 253"),
        ("xn--zz.example", "“xn--zz.example” is not a host name or HOST:PORT (Invalid A-label)"),
        ("☃\u200d.example", "is not a host name or HOST:PORT (Codepoint U+2603"),
    ],
)
def test_bad_names_are_refused_with_a_specific_message(given: str, message: str) -> None:
    with pytest.raises(ValidationError, match=None) as refused:
        parse_host_port(given)
    assert message in refused.value.message, refused.value.message


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("192.168.1.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fd00::1", "a private address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("100.64.0.1", "a reserved, non-public address"),
        ("0.0.0.0", "a private address"),  # noqa: S104
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_non_public_addresses_are_named(address: str, reason: str | None) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) == reason


def test_public_addresses_drop_private_ones_when_checking() -> None:
    mixed = ["10.0.0.5", "93.184.216.34"]
    assert public_addresses("x.example", mixed, allow_private=False) == ["93.184.216.34"]
    assert public_addresses("x.example", mixed, allow_private=True) == mixed


def test_any_private_address_refuses_registration() -> None:
    with pytest.raises(ValidationError) as refused:
        public_addresses(
            "x.example", ["93.184.216.34", "10.0.0.5"], allow_private=False, require_all=True
        )
    assert refused.value.code is ErrorCode.host_private
    assert refused.value.message == (
        "x.example resolves to a private or local address (10.0.0.5); "
        "Intrex only checks public hosts."
    )
