"""`intrex import obligations` and `intrex obligations list`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from core.audit.models import ActivityLog
from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.tenancy.models import Branch
from core.tenancy.service import resolve_tenant
from tests.companies import person
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
    assert "line 4: “tomorrow” is not a date: write YYYY-MM-DD or DD/MM/YYYY." in human.stderr
    assert "Traceback" not in human.stderr

    machine = run(
        ["import", "obligations", str(csv_file), "--tenant", tenant_name, "--json"], env, tmp_path
    )
    assert machine.returncode == 1
    document = last_json(machine)
    assert document["ok"] is False
    assert [e["line"] for e in document["errors"]] == [3, 4]
    assert [e["code"] for e in document["errors"]] == [
        "branch.not_found",
        "obligation.due_date_format",
    ]

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


def test_import_an_xlsx_workbook_with_day_first_dates(
    env: dict[str, str], tmp_path: Path, tenant_name: str
) -> None:
    soon = date.today() + timedelta(days=20)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "branch_code",
            "category",
            "title",
            "due_date",
            "severity",
            "recurrence",
            "grace_days",
            "proof_required",
        ]
    )
    sheet.append(["DHK-01", "tax_vat", "VAT return", soon, "medium", "every:30", 5, True])
    sheet.append(
        [
            "CTG-02",
            "fire_safety",
            "Fire certificate",
            soon.strftime("%d/%m/%Y"),
            "high",
            "none",
            None,
            "no",
        ]
    )
    workbook_file = tmp_path / "onboarding.xlsx"
    book.save(workbook_file)

    done = run(
        ["import", "obligations", str(workbook_file), "--tenant", tenant_name, "--json"],
        env,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = last_json(done)
    assert (report["rows"], report["branches"], report["templates_created"]) == (2, 2, 2)
    listed = last_json(
        run(
            ["obligations", "list", "--tenant", tenant_name, "--branch", "CTG-02", "--json"],
            env,
            tmp_path,
        )
    )
    assert [(o["title"], o["due_at"]) for o in listed["obligations"]] == [
        ("Fire certificate", soon.isoformat())
    ]
    again = run(
        ["import", "obligations", str(workbook_file), "--tenant", tenant_name], env, tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "Imported 2 row(s) for 2 branch(es)" in again.stdout
    assert "0 new obligation(s), 2 already present, 0 dated instance(s)" in again.stdout

    sheet.append(["DHK-01", "tax_vat", "Year 9999", "31/12/9999", "low", "every:99999999999"])
    book.save(workbook_file)
    refused = run(
        ["import", "obligations", str(workbook_file), "--tenant", tenant_name], env, tmp_path
    )
    assert refused.returncode == 1
    assert "line 4: The date 9999-12-31 is outside the calendar" in refused.stderr
    assert "line 4: “every:99999999999”: a recurrence of every N days" in refused.stderr
    assert "Traceback" not in refused.stderr


async def owner_in(db: Database, tenant: str, email: str, name: str, code: str | None) -> int:
    """A person of the tenant (made directly: no invite, no chat); returns their id."""
    company = await resolve_tenant(db, tenant)
    async with db.tenant_uow(company.id) as session:
        branches = list(await session.scalars(select(Branch).where(Branch.code == code)))
    units = await person(db, company, AppRole.operator, branches, name=name, email=email)
    return units.user_id


async def audit_of(db: Database, tenant: str, entity_id: str) -> list[ActivityLog]:
    company = await resolve_tenant(db, tenant)
    async with db.tenant_uow(company.id) as session:
        return list(
            await session.scalars(
                select(ActivityLog)
                .where(ActivityLog.entity_id == entity_id)
                .order_by(ActivityLog.id)
            )
        )


async def test_add_update_and_delete_a_one_off_with_reasons(
    env: dict[str, str], tmp_path: Path, tenant_name: str, db: Database
) -> None:
    jamal = await owner_in(db, tenant_name, "jamal@acme.test", "Jamal Uddin", "DHK-01")
    await owner_in(db, tenant_name, "rina@acme.test", "Rina Das", "CTG-02")
    due = date.today() + timedelta(days=40)
    added = run(
        [
            *("obligations", "add", "--tenant", tenant_name, "--branch", "dhk-01"),
            *("--category", "fire_safety", "--title", "Fire drill"),
            *("--due", due.strftime("%d/%m/%Y"), "--severity", "HIGH"),
            *("--owner", "JAMAL@acme.test", "--proof-required", "--json"),
        ],
        env,
        tmp_path,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    obligation = last_json(added)["obligation"]
    assert (obligation["title"], obligation["due_at"], obligation["severity"]) == (
        "Fire drill",
        due.isoformat(),
        "high",
    )
    assert (obligation["owner_user_id"], obligation["owner_name"]) == (jamal, "Jamal Uddin")
    assert obligation["proof_required"] is True
    full_id = obligation["id"]
    short_id = full_id[:8]

    owned = run(
        ["obligations", "list", "--tenant", tenant_name, "--owner", "jamal@acme.test", "--json"],
        env,
        tmp_path,
    )
    assert [item["id"] for item in last_json(owned)["obligations"]] == [full_id]
    nobody_else = run(
        ["obligations", "list", "--tenant", tenant_name, "--owner", "rina@acme.test", "--json"],
        env,
        tmp_path,
    )
    assert last_json(nobody_else)["obligations"] == []
    table = run(["obligations", "list", "--tenant", tenant_name], env, tmp_path)
    assert "Jamal Uddin" in table.stdout

    later = due + timedelta(days=15)
    no_reason = run(
        ["obligations", "update", "--tenant", tenant_name, short_id, "--due", str(later)],
        env,
        tmp_path,
    )
    assert no_reason.returncode == 2  # --reason is required (SPEC §2)
    blank_reason = run(
        [
            *("obligations", "update", "--tenant", tenant_name, short_id),
            *("--due", str(later), "--reason", " "),
        ],
        env,
        tmp_path,
    )
    assert blank_reason.returncode == 1
    assert "A reason is required" in blank_reason.stderr
    outsider = run(
        [
            *("obligations", "update", "--tenant", tenant_name, short_id),
            *("--owner", "rina@acme.test", "--reason", "handover"),
        ],
        env,
        tmp_path,
    )
    assert outsider.returncode == 1
    assert "Rina Das does not work for branch DHK-01" in " ".join(outsider.stderr.split())

    moved = run(
        [
            *("obligations", "update", "--tenant", tenant_name, short_id),
            *("--due", later.isoformat(), "--owner", "-", "--reason", "Inspector rescheduled"),
            "--json",
        ],
        env,
        tmp_path,
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    document = last_json(moved)
    assert document["changed"] is True
    assert document["obligation"]["due_at"] == later.isoformat()
    assert document["obligation"]["owner_user_id"] is None
    entries = await audit_of(db, tenant_name, full_id)
    assert [entry.action for entry in entries] == ["obligation.add", "obligation.update"]
    update_entry = entries[-1]
    assert (update_entry.before_json or {})["due_at"] == due.isoformat()
    assert (update_entry.before_json or {})["owner_user_id"] == jamal
    assert (update_entry.after_json or {})["due_at"] == later.isoformat()
    assert (update_entry.after_json or {})["owner_user_id"] is None
    assert (update_entry.after_json or {})["reason"] == "Inspector rescheduled"
    assert update_entry.user_id is None  # the command line acts as nobody

    refused = run(["obligations", "delete", "--tenant", tenant_name, full_id], env, tmp_path)
    assert refused.returncode == 2
    deleted = run(
        [
            *("obligations", "delete", "--tenant", tenant_name, full_id),
            *("--reason", "Entered twice"),
        ],
        env,
        tmp_path,
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "Deleted “Fire drill” (DHK-01" in deleted.stdout
    entries = await audit_of(db, tenant_name, full_id)
    assert entries[-1].action == "obligation.delete"
    assert (entries[-1].after_json or {})["reason"] == "Entered twice"
    listed = run(["obligations", "list", "--tenant", tenant_name, "--json"], env, tmp_path)
    assert last_json(listed)["obligations"] == []
    gone = run(
        ["obligations", "delete", "--tenant", tenant_name, full_id, "--reason", "again"],
        env,
        tmp_path,
    )
    assert gone.returncode == 1
    assert "No such obligation" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_add_refuses_bad_input_without_a_traceback(
    env: dict[str, str], tmp_path: Path, tenant_name: str
) -> None:
    base = ["obligations", "add", "--tenant", tenant_name, "--branch", "DHK-01"]
    cases = {
        "“31/02/2026” is not a real date.": ["--category", "tax_vat", "--due", "31/02/2026"],
        "Unknown category “vat”": ["--category", "vat", "--due", "2026-06-30"],
        "There is no user “nobody@acme.test”": [
            *("--category", "tax_vat", "--due", "2026-06-30", "--owner", "nobody@acme.test"),
        ],
    }
    for message, args in cases.items():
        result = run([*base, "--title", "VAT", *args], env, tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        assert message in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr
    listed = run(["obligations", "list", "--tenant", tenant_name, "--json"], env, tmp_path)
    assert last_json(listed)["obligations"] == []
