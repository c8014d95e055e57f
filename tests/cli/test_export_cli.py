"""`intrex export` and the streamed `intrex obligations list --json`, run as a user runs them.

The company is made with the real services (`tests.companies`) in the database the command
runs against; every command is the installed `intrex` in a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.db.enums import AppRole, Language, ObligationCategory, ObligationStatus, Severity
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.i18n import texts_for
from core.obligations.actions import complete_obligation, waive_obligation
from core.obligations.manage import OneOffSpec, add_obligation
from core.obligations.queries import list_obligations_for_admin
from core.tenancy.scope import console_unit
from tests.companies import Company, company, person
from tests.environment import INTREX, intrex_env

COMPLETED_AT = datetime(2026, 5, 10, 20, 30, tzinfo=UTC)
HYPERLINK = '=HYPERLINK("http://x","y")'


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*INTREX, *args], env=env, cwd=cwd, capture_output=True, timeout=120, check=False
    )


@pytest.fixture
def env(target: DatabaseTarget) -> dict[str, str]:
    return intrex_env(target)


@pytest.fixture
async def acme(db: Database) -> Company:
    """DHK-01 with a formula-looking title owned by a manager and a completed drill; CTG-02
    with a waived licence."""
    acme = await company(db, name=f"export-{uuid.uuid4().hex[:8]}")
    manager = await person(db, acme.tenant, AppRole.branch_manager, [acme.dhaka], name="Karim")
    async with console_unit(db, acme.tenant.id) as (session, actor):
        due = actor.today + timedelta(days=10)
        made = {}
        for code, title, owner in (
            ("DHK-01", HYPERLINK, manager.user_id),
            ("DHK-01", "+1 fire drill", None),
            ("CTG-02", "Trade licence", None),
        ):
            view = await add_obligation(
                session,
                actor,
                OneOffSpec(
                    branch_code=code,
                    category=ObligationCategory.trade_license,
                    title=title,
                    due=due,
                    severity=Severity.critical,
                    owner_user_id=owner,
                ),
            )
            made[title] = view.id
    async with console_unit(db, acme.tenant.id, now=COMPLETED_AT) as (session, actor):
        await complete_obligation(session, actor, made["+1 fire drill"], now=COMPLETED_AT)
        await waive_obligation(
            session, actor, made["Trade licence"], "@closed this year", now=COMPLETED_AT
        )
    return acme


def csv_of(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


async def test_csv_streams_to_stdout_and_xlsx_goes_to_a_file(
    env: dict[str, str], tmp_path: Path, acme: Company
) -> None:
    name = acme.tenant.name
    piped = run(["export", "obligations", "--tenant", name], env, tmp_path)
    assert piped.returncode == 0, piped.stderr
    rows = csv_of(piped.stdout)
    assert rows[0][:4] == ["Obligation id", "Branch code", "Branch", "Title"]
    assert rows[0][9] == "Completed at (Asia/Dhaka)"
    titled = {row[3]: row for row in rows[1:]}
    assert set(titled) == {"'" + HYPERLINK, "'+1 fire drill", "Trade licence"}
    assert titled["'" + HYPERLINK][8] == "Karim"
    assert titled["'+1 fire drill"][6] == "completed"
    assert titled["'+1 fire drill"][9] == "2026-05-11T02:30:00+06:00"
    assert titled["Trade licence"][13] == "'@closed this year"

    written = run(
        ["export", "obligations", "--tenant", name, "--format", "xlsx", "--json"], env, tmp_path
    )
    assert written.returncode == 0, written.stderr
    report = json.loads(written.stdout)
    assert (report["ok"], report["rows"], report["format"]) == (True, 3, "xlsx")
    default_file = tmp_path / report["file"]
    assert default_file.name.startswith("obligations-")
    assert default_file.name.endswith(".xlsx")
    sheet = load_workbook(default_file).worksheets[0]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(values) == 4
    assert {row[3] for row in values[1:]} == {"'" + HYPERLINK, "'+1 fire drill", "Trade licence"}
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    completed = next(row for row in values if row[3] == "'+1 fire drill")
    assert completed[9] == datetime(2026, 5, 11, 2, 30)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")], "renamed, not left"

    chosen = tmp_path / "dhaka.csv"
    branch = run(
        ["export", "obligations", "--tenant", name, "--branch", "dhk-01", "-o", str(chosen)],
        env,
        tmp_path,
    )
    assert branch.returncode == 0, branch.stderr
    assert "Wrote 2 obligations row(s)" in branch.stdout.decode()
    assert [row[1] for row in csv_of(chosen.read_bytes())[1:]] == ["DHK-01", "DHK-01"]


async def test_bengali_headers_and_refusals(
    env: dict[str, str], tmp_path: Path, acme: Company
) -> None:
    name = acme.tenant.name
    bengali = run(["export", "domains", "--tenant", name, "--language", "bn"], env, tmp_path)
    assert bengali.returncode == 0, bengali.stderr
    headers = csv_of(bengali.stdout)[0]
    words = texts_for(Language.bn)
    assert headers[:2] == [words.gettext("Host"), words.gettext("Port")]
    assert all(any("\u0980" <= char <= "\u09ff" for char in header) for header in headers)

    for args, message in (
        (["export", "invoices"], "Unknown export “invoices”"),
        (["export", "audit", "--format", "pdf"], "Unknown format “pdf”"),
        (["export", "audit", "--branch", "NOPE-9"], "There is no branch NOPE-9."),
        (["export", "audit", "--language", "fr"], "Unknown language “fr”"),
    ):
        refused = run([*args, "--tenant", name], env, tmp_path)
        assert refused.returncode == 1
        assert message in refused.stderr.decode(), refused.stderr
        assert b"Traceback" not in refused.stderr
        assert refused.stdout == b""
    refused = run(
        ["export", "audit", "--tenant", name, "--branch", "NOPE-9", "-o", "x.csv", "--json"],
        env,
        tmp_path,
    )
    assert json.loads(refused.stdout)["ok"] is False
    assert not (tmp_path / "x.csv").exists()


async def test_obligations_list_json_is_streamed_byte_for_byte_as_before(
    db: Database, env: dict[str, str], tmp_path: Path, acme: Company
) -> None:
    """The streamed document equals what the command printed when it built the whole list
    (`list_obligations_for_admin` rendered by `emit`), filters and limit included."""
    name = acme.tenant.name
    cases: list[tuple[list[str], dict[str, object]]] = [
        ([], {}),
        (["--limit", "2"], {"limit": 2}),
        (["--branch", "dhk-01"], {"branch_code": "dhk-01"}),
        (["--status", "completed"], {"status": ObligationStatus.completed}),
    ]
    for args, options in cases:
        listing = await list_obligations_for_admin(db, acme.tenant, **options)  # type: ignore[arg-type]
        expected = {
            "ok": True,
            "total": listing.total,
            "obligations": [
                {
                    **item.as_dict(),
                    "owner_name": listing.owner_names.get(item.owner_user_id or 0),
                }
                for item in listing.items
            ],
        }
        streamed = run(["obligations", "list", "--tenant", name, "--json", *args], env, tmp_path)
        assert streamed.returncode == 0, streamed.stderr
        assert streamed.stdout.decode() == json.dumps(expected, default=str, sort_keys=True) + "\n"
    everything = json.loads(
        run(["obligations", "list", "--tenant", name, "--json"], env, tmp_path).stdout
    )
    assert everything["total"] == 3
    owned = [item for item in everything["obligations"] if item["owner_name"]]
    assert [item["owner_name"] for item in owned] == ["Karim"]
