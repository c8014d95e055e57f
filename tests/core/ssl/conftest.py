"""A test PKI and loopback servers shared by the certificate tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers, loopback_servers


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def servers() -> Iterator[LoopbackServers]:
    with loopback_servers() as running:
        yield running
