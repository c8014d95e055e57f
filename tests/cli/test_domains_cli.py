"""`intrex domain …` and `intrex import domains` as head office runs them: real processes,
real PostgreSQL, real loopback TLS servers with certificates from the test PKI.

The processes resolve `localhost` through the system resolver and trust the test PKI
through SSL_CA_FILE; ALLOW_PRIVATE_TARGETS lets them reach loopback, except in the test
that shows loopback refused without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.audit.models import ActivityLog
from core.db.session import Database
from core.ssl.models import Domain, SslCheckResult
from tests.cli.test_cli import as_json, server_env
from tests.cli.test_people_cli import Shell
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import loopback_servers

__all__ = ["server_env"]
"""`server_env` is test_cli's fixture, used here as it is there."""


class Ports:
    def __init__(self, good: int, expired: int) -> None:
        self.good = good
        self.expired = expired


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("domains-cli-pki"))


@pytest.fixture(scope="module")
def ports(pki: Pki) -> Iterator[Ports]:
    with loopback_servers() as servers:
        good = servers.tls(pki.server_context(pki.leaf("localhost"), pki.intermediate)).port
        expired = servers.tls(
            pki.server_context(pki.leaf("localhost", days_valid=-5), pki.intermediate)
        ).port
        yield Ports(good, expired)


def ssl_env(server_env: dict[str, str], pki: Pki, *, private: bool = True) -> dict[str, str]:
    return server_env | {
        "SSL_CA_FILE": str(pki.ca_file),
        "SSL_TIMEOUT_SECONDS": "3",
        "ALLOW_PRIVATE_TARGETS": "true" if private else "false",
    }


@pytest.fixture
def shell(server_env: dict[str, str], pki: Pki, tmp_path: Path) -> Shell:
    return Shell(ssl_env(server_env, pki), tmp_path)


async def domains_of(db: Database, tenant_id: uuid.UUID) -> list[Domain]:
    async with db.tenant_uow(tenant_id) as session:
        return list(await session.scalars(select(Domain).order_by(Domain.port)))


async def actions(db: Database, tenant_id: uuid.UUID) -> list[str]:
    async with db.tenant_uow(tenant_id) as session:
        return list(
            await session.scalars(
                select(ActivityLog.action)
                .where(ActivityLog.entity_type == "domain")
                .order_by(ActivityLog.id)
            )
        )


def refusal(shell: Shell, *args: str) -> str:
    """The message of a command that must fail (exit 1, no traceback); one process, where
    `Shell.refused` runs two to compare with `--json` (done here once, for the import)."""
    done = shell(*args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: "), done.stderr
    return " ".join(done.stderr.removeprefix("Error: ").split())


def table_row(output: str, needle: str) -> list[str]:
    (row,) = [line for line in output.splitlines() if needle in line]
    return [cell.strip() for cell in row.strip("│ ").split("│")]


async def test_add_list_pause_resume_and_remove(shell: Shell, ports: Ports, db: Database) -> None:
    shell.branches("DHK-01")
    good, expired = f"localhost:{ports.good}", f"localhost:{ports.expired}"

    human = shell(*shell.t("domain", "add", good, "--branch", "dhk-01"))
    assert human.returncode == 0, human.stdout + human.stderr
    assert human.stdout.startswith(f"Now monitoring {good}. First check:\n")
    assert f"✓ {good}  ok  89 days left" in human.stdout
    added = shell.ok(*shell.t("domain", "add", f"LOCALHOST.:{ports.expired}"))
    assert added["domain"]["target"] == expired
    assert added["check"]["check_status"] == "expired"
    assert refusal(shell, *shell.t("domain", "add", good)) == f"{good} is already monitored."

    # The ports are random: find each by its own, not by the list's order.
    by_port = {domain.port: domain for domain in await domains_of(db, shell.tenant_id)}
    first = by_port[ports.good]
    assert (first.branch_id is not None, first.status) == (True, "ok")
    assert len(by_port) == 2
    async with db.tenant_uow(shell.tenant_id) as session:
        results = list(await session.scalars(select(SslCheckResult)))
    assert len(results) == 2, "each add made its first check"

    listed = shell.ok(*shell.t("domain", "list"))
    by_target = {item["target"]: item for item in listed["domains"]}
    assert set(by_target) == {good, expired}
    assert by_target[good]["branch_code"] == "DHK-01"
    assert (by_target[good]["status"], by_target[good]["days_remaining"]) == ("ok", 89)
    assert by_target[expired]["branch_code"] is None
    assert by_target[expired]["paused"] is False

    paused = shell.ok(*shell.t("domain", "pause", expired))
    assert paused["domain"]["paused"] is True
    assert refusal(shell, *shell.t("domain", "pause", expired)) == (
        f"Monitoring of {expired} is already paused."
    )
    table = shell(*shell.t("domain", "list"))
    assert table.returncode == 0, table.stderr
    assert table_row(table.stdout, expired)[1:4] == ["head office", "expired", "-5"]
    assert table_row(table.stdout, expired)[5].startswith("since ")
    assert table_row(table.stdout, good)[1:4] == ["DHK-01", "ok", "89"]
    assert table_row(table.stdout, good)[5] == "no"

    before = datetime.now(UTC)
    resumed = shell(*shell.t("domain", "resume", expired))
    assert resumed.returncode == 0, resumed.stderr
    assert "the next round checks it" in resumed.stdout
    again = next(d for d in await domains_of(db, shell.tenant_id) if d.port == ports.expired)
    assert again.paused_at is None
    assert before <= again.next_check_at <= datetime.now(UTC), "due now"
    assert refusal(shell, *shell.t("domain", "resume", expired)) == (
        f"Monitoring of {expired} is not paused."
    )

    removed = shell(*shell.t("domain", "remove", good))
    assert removed.returncode == 0, removed.stderr
    assert f"Stopped monitoring {good}." in removed.stdout
    assert refusal(shell, *shell.t("domain", "remove", good)) == (
        f"{good} is not monitored in your scope."
    )
    assert [d.port for d in await domains_of(db, shell.tenant_id)] == [ports.expired]
    assert await actions(db, shell.tenant_id) == [
        "domain.add",
        "domain.add",
        "domain.pause",
        "domain.resume",
        "domain.remove",
    ]


async def test_import_registers_a_good_file_due_now(
    shell: Shell, ports: Ports, db: Database, tmp_path: Path
) -> None:
    shell.branches("DHK-01")
    csv_file = tmp_path / "domains.csv"
    csv_file.write_bytes(
        "\ufeffhostname,port,branch_code\n"
        f"localhost,{ports.good},dhk-01\n"
        f"localhost:{ports.expired},,\n".encode()
    )
    before = datetime.now(UTC)
    done = shell("import", "domains", str(csv_file), "--tenant", shell.tenant)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Imported 2 domain(s) into {shell.tenant}" in done.stdout
    assert "Resolving hosts" not in done.stdout, "no bar off a terminal"
    domains = await domains_of(db, shell.tenant_id)
    assert sorted((d.hostname, d.port, d.status) for d in domains) == sorted(
        [("localhost", ports.good, None), ("localhost", ports.expired, None)]
    )
    assert all(before <= d.next_check_at <= datetime.now(UTC) for d in domains)
    assert await actions(db, shell.tenant_id) == ["domain.import"]
    listed = shell.ok(*shell.t("domain", "list"))
    assert {item["status"] for item in listed["domains"]} == {None}


async def test_import_reports_every_bad_row_and_imports_nothing(
    shell: Shell, ports: Ports, db: Database, tmp_path: Path
) -> None:
    shell.branches("DHK-01")
    shell.ok(*shell.t("domain", "add", f"localhost:{ports.good}"))
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "hostname,port,branch_code\n"
        f"localhost,{ports.expired},DHK-01\n"
        f"localhost,{ports.good},\n"
        "exa mple.com,0,NOPE\n"
        f"localhost,{ports.expired},\n"
    )
    message = refusal(shell, "import", "domains", str(csv_file), "--tenant", shell.tenant)
    assert message.startswith("Nothing was imported: 3 bad row(s).")
    for fault in (
        f"line 3: localhost:{ports.good} is already monitored.",
        "line 4: “exa mple.com” is not a valid host name: it contains ' '",
        "line 4: Port 0 in “exa mple.com:0” is out of range",
        "line 4: There is no branch NOPE.",
        "line 5: repeats line 2",
    ):
        assert fault in message, message
    machine = shell("import", "domains", str(csv_file), "--tenant", shell.tenant, "--json")
    assert machine.returncode == 1
    document = as_json(machine)
    assert (document["ok"], " ".join(str(document["error"]).split())) == (False, message)
    assert [error["line"] for error in document["errors"]] == [3, 4, 4, 4, 5]
    assert len(await domains_of(db, shell.tenant_id)) == 1


async def test_import_refuses_loopback_unless_private_targets_are_allowed(
    server_env: dict[str, str], pki: Pki, ports: Ports, db: Database, tmp_path: Path
) -> None:
    strict = Shell(ssl_env(server_env, pki, private=False), tmp_path)
    csv_file = tmp_path / "local.csv"
    csv_file.write_text(f"hostname,port\nlocalhost,{ports.good}\n")
    message = refusal(strict, "import", "domains", str(csv_file), "--tenant", strict.tenant)
    assert "line 2: localhost resolves to a private or local address" in message
    assert await domains_of(db, strict.tenant_id) == []


async def test_a_terminal_gets_a_progress_bar_for_a_large_file(
    shell: Shell, db: Database, tmp_path: Path
) -> None:
    csv_file = tmp_path / "many.csv"
    csv_file.write_text("hostname\n" + "".join(f"h{n}.localhost\n" for n in range(30)))
    shell.env |= {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
    done = shell("import", "domains", str(csv_file), "--tenant", shell.tenant)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Resolving hosts" in done.stdout
    assert "30/30" in done.stdout
    assert len(await domains_of(db, shell.tenant_id)) == 30
