"""`intrex import obligations` and `intrex obligations list`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.db.target import DatabaseTarget
from tests.environment import INTREX, intrex_env


@pytest.fixture
def env(target: DatabaseTarget) -> dict[str, str]:
    return intrex_env(
        target, DATABASE_ADMIN_URL=target.admin_url.render_as_string(hide_password=False)
    )


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INTREX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


@pytest.fixture
def tenant_name(env: dict[str, str], tmp_path: Path) -> str:
    name = f"cli-obl-{uuid.uuid4().hex[:8]}"
    assert (
        run(["tenant", "create", name, "--timezone", "Asia/Dhaka"], env, tmp_path).returncode == 0
    )
    for code in ("DHK-01", "CTG-02"):
        made = run(
            ["branch", "create", "--tenant", name, "--code", code, "--name", code], env, tmp_path
        )
        assert made.returncode == 0, made.stderr
    return name


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(
        "branch_code,category,title,due_date,severity,recurrence\n" + "\n".join(rows) + "\n"
    )
    return path


def test_bad_file_imports_nothing_and_names_the_lines(
    env: dict[str, str], tmp_path: Path, tenant_name: str
) -> None:
    soon = (date.today() + timedelta(days=20)).isoformat()
    csv_file = write_csv(
        tmp_path / "bad.csv",
        [
            f"DHK-01,tax_vat,VAT return,{soon},medium,monthly",
            f"XXX-1,tax_vat,VAT return,{soon},medium,monthly",
            "DHK-01,tax_vat,VAT return,tomorrow,medium,monthly",
        ],
    )
    human = run(["import", "obligations", str(csv_file), "--tenant", tenant_name], env, tmp_path)
    assert human.returncode == 1
    assert "line 3: There is no branch XXX-1." in human.stderr
    assert "There is no branch XXX-1" in human.stderr
    assert "line 4: due_date “tomorrow”" in human.stderr
    assert "Traceback" not in human.stderr

    machine = run(
        ["import", "obligations", str(csv_file), "--tenant", tenant_name, "--json"], env, tmp_path
    )
    assert machine.returncode == 1
    document = last_json(machine)
    assert document["ok"] is False
    assert [e["line"] for e in document["errors"]] == [3, 4]

    listed = run(["obligations", "list", "--tenant", tenant_name, "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert last_json(listed) == {"ok": True, "total": 0, "obligations": []}


def test_import_dry_run_then_import_then_list(
    env: dict[str, str], tmp_path: Path, tenant_name: str
) -> None:
    soon = date.today() + timedelta(days=20)
    csv_file = write_csv(
        tmp_path / "good.csv",
        [
            f"DHK-01,tax_vat,VAT return,{soon.isoformat()},medium,quarterly",
            f"CTG-02,fire_safety,Fire certificate,{soon.isoformat()},high,none",
        ],
    )
    dry = run(
        ["import", "obligations", str(csv_file), "--tenant", tenant_name, "--dry-run", "--json"],
        env,
        tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert last_json(dry)["dry_run"] is True
    assert last_json(dry)["instances_created"] == 4 + 1

    done = run(["import", "obligations", str(csv_file), "--tenant", tenant_name], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Imported 2 row(s)" in done.stdout
    assert "5 dated instance(s)" in done.stdout

    listed = run(
        ["obligations", "list", "--tenant", tenant_name, "--branch", "ctg-02", "--json"],
        env,
        tmp_path,
    )
    document = last_json(listed)
    assert document["total"] == 1
    (only,) = document["obligations"]
    assert (only["title"], only["due_at"], only["status"]) == (
        "Fire certificate",
        soon.isoformat(),
        "upcoming",
    )

    table = run(["obligations", "list", "--tenant", tenant_name], env, tmp_path)
    assert table.returncode == 0
    assert "VAT return" in table.stdout
    assert "Fire certificate" in table.stdout

    bad_status = run(
        ["obligations", "list", "--tenant", tenant_name, "--status", "late"], env, tmp_path
    )
    assert bad_status.returncode == 1
    assert "Unknown status “late”" in bad_status.stderr
