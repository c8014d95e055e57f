"""`intrex ssl check` as a user runs it: a real process against real loopback TLS servers.

The process resolves `localhost` through the system resolver (the standard hosts entry),
trusts the test PKI through SSL_CA_FILE and may reach loopback via ALLOW_PRIVATE_TARGETS.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers, loopback_servers, refused_port
from tests.environment import INTREX, intrex_env

RESULT_FIELDS = {
    "host",
    "port",
    "check_status",
    "valid_from",
    "valid_to",
    "days_remaining",
    "issuer_cn",
    "fingerprint_sha256",
    "error_detail",
    "checked_at",
}


@dataclass
class Sites:
    good: int
    also_good: int
    expired: int
    refused: int


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("cli-pki"))


@pytest.fixture(scope="module")
def sites(pki: Pki) -> Iterator[Sites]:
    with loopback_servers() as servers:
        yield Sites(
            good=_serve(servers, pki, 90),
            also_good=_serve(servers, pki, 200),
            expired=_serve(servers, pki, -5),
            refused=refused_port(),
        )


def _serve(servers: LoopbackServers, pki: Pki, days_valid: float) -> int:
    leaf = pki.leaf("localhost", days_valid=days_valid)
    return servers.tls(pki.server_context(leaf, pki.intermediate)).port


@pytest.fixture
def env(pki: Pki) -> dict[str, str]:
    return intrex_env(
        SSL_CA_FILE=str(pki.ca_file), ALLOW_PRIVATE_TARGETS="true", SSL_TIMEOUT_SECONDS="3"
    )


def intrex(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INTREX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_all_ok_exits_zero_with_a_line_per_host(
    sites: Sites, env: dict[str, str], tmp_path: Path
) -> None:
    done = intrex(
        ["ssl", "check", f"localhost:{sites.good}", f"LOCALHOST.:{sites.also_good}"],
        env,
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    by_port = {line.split()[1]: line for line in lines}
    assert by_port[f"localhost:{sites.good}"].startswith(f"✓ localhost:{sites.good}  ok  89 days")
    assert "issuer Intrex Test Intermediate CA" in by_port[f"localhost:{sites.good}"]
    assert "199 days left" in by_port[f"localhost:{sites.also_good}"]


def test_json_lines_carry_the_result_fields_and_any_failure_exits_one(
    sites: Sites, env: dict[str, str], tmp_path: Path
) -> None:
    done = intrex(
        [
            "ssl",
            "check",
            f"localhost:{sites.good}",
            f"localhost:{sites.expired}",
            f"localhost:{sites.refused}",
            "--json",
        ],
        env,
        tmp_path,
    )
    assert done.returncode == 1, done.stderr
    documents = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert all(set(document) == RESULT_FIELDS for document in documents)
    by_port = {document["port"]: document for document in documents}
    assert set(by_port) == {sites.good, sites.expired, sites.refused}
    assert {document["host"] for document in documents} == {"localhost"}
    good = by_port[sites.good]
    assert good["check_status"] == "ok"
    assert good["days_remaining"] == 89
    assert good["issuer_cn"] == "Intrex Test Intermediate CA"
    assert len(good["fingerprint_sha256"]) == 64
    assert good["error_detail"] is None
    expired = by_port[sites.expired]
    assert expired["check_status"] == "expired"
    assert expired["days_remaining"] == -5
    refused = by_port[sites.refused]
    assert refused["check_status"] == "handshake_failed"
    assert refused["error_detail"].endswith("connection refused")
    assert refused["valid_to"] is None


def test_hosts_from_a_file_with_comments(sites: Sites, env: dict[str, str], tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(
        f"# our sites\nlocalhost:{sites.good}\n\n  localhost:{sites.also_good}  # the shop\n"
        f"localhost:{sites.good}\n"
    )
    done = intrex(["ssl", "check", "--file", str(hosts), "--json"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    ports = sorted(json.loads(line)["port"] for line in done.stdout.strip().splitlines())
    assert ports == sorted([sites.good, sites.also_good]), "duplicates are checked once"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["127.0.0.1:443"], "argument '127.0.0.1:443': “127.0.0.1” is an IP address"),
        (["bad_host.example"], "argument 'bad_host.example': “bad_host.example” is not a valid"),
        (
            ["example.com:99999"],
            "argument 'example.com:99999': Port 99999 in “example.com:99999” is out of range",
        ),
        ([], "give at least one HOST[:PORT]"),
        (["--file", "missing.txt"], "cannot read missing.txt"),
    ],
)
def test_bad_input_is_refused_before_anything_is_checked(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    done = intrex(["ssl", "check", *args, "--json"], env, tmp_path)
    assert done.returncode == 1
    [line] = done.stdout.strip().splitlines()
    document = json.loads(line)
    assert document["ok"] is False
    assert document["error"].startswith(message), document["error"]


def test_bad_line_in_a_file_is_named(env: dict[str, str], tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("example.com\n\nexa mple.com\n")
    done = intrex(["ssl", "check", "--file", str(hosts)], env, tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"line 3 of {hosts}" in done.stderr
    assert "contains ' '" in done.stderr


def test_a_terminal_gets_a_progress_bar_for_many_hosts(
    sites: Sites, env: dict[str, str], tmp_path: Path
) -> None:
    terminal = {**env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
    many = [f"localhost:{port}" for port in (sites.good, sites.also_good, sites.expired)]
    closed: set[int] = set()
    while len(closed) < 3:
        closed.add(refused_port())
    many += [f"localhost:{port}" for port in closed]
    done = intrex(["ssl", "check", *many], terminal, tmp_path)
    assert done.returncode == 1
    assert "checking" in done.stdout
    assert "/6" in done.stdout, "the bar counts finished hosts"
    plain = intrex(["ssl", "check", *many], env, tmp_path)
    assert "checking" not in plain.stdout
    assert len(plain.stdout.strip().splitlines()) == 6
