"""`intrex audit list`, run as a user runs it: latest first, in words, filtered and paged."""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.obligations.actions import complete_obligation
from core.tenancy.service import BranchChanges, update_branch
from tests.companies import Company, company, obligation, person
from tests.environment import INTREX, intrex_env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INTREX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def listed(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


@pytest.fixture
def env(target: DatabaseTarget) -> dict[str, str]:
    return intrex_env(target)


@pytest.fixture
async def acme(db: Database) -> tuple[Company, int]:
    """Karim (head office) completed the fire drill, then renamed CTG-02."""
    made = await company(db)
    karim = await person(db, made.tenant, AppRole.head_office_admin, [], name="Karim Ahmed")
    fire = await obligation(db, made, made.dhaka, "Fire drill", due_in_days=3, proof=False)
    async with karim() as (session, actor):
        await complete_obligation(session, actor, fire)
    async with karim() as (session, actor):
        await update_branch(session, actor, "CTG-02", BranchChanges(name="Chattogram port"))
    return made, karim.user_id


def test_latest_first_in_words_with_what_changed(
    acme: tuple[Company, int], env: dict[str, str], tmp_path: Path
) -> None:
    made, karim = acme
    tenant = str(made.tenant.id)
    human = run(["audit", "list", "--tenant", tenant], env, tmp_path)
    assert human.returncode == 0, human.stderr
    out = human.stdout
    assert out.index("changed a branch") < out.index("completed an obligation")
    assert "Karim Ahmed" in out
    assert "name: Chattogram → Chattogram port" in out
    assert "status: upcoming → completed" in out
    assert "created the company" in out
    assert "the command line or Intrex itself" in out

    document = listed(run(["audit", "list", "--tenant", tenant, "--json"], env, tmp_path))
    first = document["entries"][0]
    assert (first["action"], first["user_id"], first["user_name"]) == (
        "branch.update",
        karim,
        "Karim Ahmed",
    )
    assert first["entity_type"] == "branch"
    assert first["changes"] == [
        {"field": "name", "before": "Chattogram", "after": "Chattogram port"}
    ]
    assert document["older"] is None


def test_filters_and_pages(acme: tuple[Company, int], env: dict[str, str], tmp_path: Path) -> None:
    made, karim = acme
    base = ["audit", "list", "--tenant", str(made.tenant.id), "--json"]

    def actions(*extra: str) -> list[str]:
        document = listed(run([*base, *extra], env, tmp_path))
        return [entry["action"] for entry in document["entries"]]

    assert actions("--entity", f"branch:{made.chattogram.id}") == ["branch.update", "branch.create"]
    assert actions("--action", "obligation.complete") == ["obligation.complete"]
    assert set(actions("--action", "branch.*")) == {"branch.update", "branch.create"}
    assert actions("--user", "Karim Ahmed") == ["branch.update", "obligation.complete"]
    assert actions("--user", str(karim)) == ["branch.update", "obligation.complete"]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert actions("--since", tomorrow) == []
    everything = actions()

    pages: list[str] = []
    older: str | None = None
    while True:
        extra = ["--limit", "3", *(["--before", older] if older else [])]
        document = listed(run([*base, *extra], env, tmp_path))
        pages += [entry["action"] for entry in document["entries"]]
        older = document["older"]
        if older is None:
            break
    assert pages == everything

    human = run(["audit", "list", "--tenant", str(made.tenant.id), "--limit", "1"], env, tmp_path)
    assert "Older entries: add --before " in human.stdout


def test_bad_filters_are_refused(
    acme: tuple[Company, int], env: dict[str, str], tmp_path: Path
) -> None:
    made, _ = acme
    base = ["audit", "list", "--tenant", str(made.tenant.id)]
    cases = [
        (["--before", "zz"], "“zz” is not a position in the audit trail"),
        (["--entity", "obligaton:1"], "Unknown entity type “obligaton”"),
        (["--user", "nobody@example.com"], "There is no user “nobody@example.com”"),
        (["--since", "someday"], "“someday” is not a date"),
        (["--limit", "0"], "The page size must be between 1 and 500."),
    ]
    for extra, message in cases:
        refused = run([*base, *extra], env, tmp_path)
        assert refused.returncode == 1, extra
        assert message in refused.stderr, (extra, refused.stderr)
    assert (
        "No audit entries match."
        in run([*base, "--action", "nothing.happened"], env, tmp_path).stdout
    )
