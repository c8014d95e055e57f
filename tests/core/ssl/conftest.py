"""A test PKI and loopback servers shared by the certificate tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import Settings
from core.ssl.checker import StaticResolver
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers, loopback_servers

RESOLVER = StaticResolver({"*.intrex.test": ["127.0.0.1"]})
"""Every test host name lives under intrex.test and is served on loopback."""


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def servers() -> Iterator[LoopbackServers]:
    with loopback_servers() as running:
        yield running


@pytest.fixture(scope="session")
def ssl_settings(pki: Pki) -> Settings:
    """Checks that trust the test PKI and may reach loopback servers, with a short timeout."""
    return Settings(
        ssl_ca_file=pki.ca_file,
        allow_private_targets=True,
        ssl_timeout_seconds=2,
        ssl_concurrency=20,
    )
