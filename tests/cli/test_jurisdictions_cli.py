"""`intrex jurisdiction list` and branch places on the command line: real processes, real
PostgreSQL with the reference data `migrate` loaded."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from tests.cli.test_cli import as_json, run, server_env

__all__ = ["server_env"]
"""`server_env` is test_cli's fixture, used here as it is there."""


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def test_list_the_reference_jurisdictions(server_env: dict[str, str], tmp_path: Path) -> None:
    listed = run(["jurisdiction", "list", "--country", "bd", "--json"], server_env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    document = as_json(listed)
    assert document["ok"] is True
    reference = [row for row in document["jurisdictions"] if row["code"] is not None]
    assert [row["level"] for row in reference] == (
        ["country"] + ["division"] * 8 + ["district"] * 64 + ["city_corporation"] * 12
    )
    assert reference[0] | {"id": None} == {
        "id": None,
        "code": "BD",
        "level": "country",
        "country_code": "BD",
        "label": "Bangladesh",
        "label_bn": "বাংলাদেশ",
        "region": None,
        "district": None,
        "city_corporation": None,
    }
    dncc = next(row for row in reference if row["code"] == "BD-DNCC")
    assert (dncc["region"], dncc["district"], dncc["city_corporation"]) == (
        "Dhaka",
        "Dhaka",
        "Dhaka North City Corporation",
    )

    table = run(["jurisdiction", "list", "--country", "BD"], server_env, tmp_path)
    assert table.returncode == 0, table.stderr
    rows = {cells(line)[-1]: cells(line) for line in table.stdout.splitlines() if "│" in line}
    assert rows["BD-DNCC"] == [
        "city corporation",
        "Dhaka North City Corporation",
        "ঢাকা উত্তর সিটি কর্পোরেশন",
        "Dhaka District, Dhaka Division",
        "BD-DNCC",
    ]
    assert rows["BD-DHA-GAZIPUR"] == [
        "district",
        "Gazipur District",
        "গাজীপুর জেলা",
        "Dhaka Division",
        "BD-DHA-GAZIPUR",
    ]
    assert rows["BD-SYL"] == ["division", "Sylhet Division", "সিলেট বিভাগ", "BD", "BD-SYL"]
    assert rows["BD"] == ["country", "Bangladesh", "বাংলাদেশ", "", "BD"]

    none = run(["jurisdiction", "list", "--country", "ZZ"], server_env, tmp_path)
    assert (none.returncode, none.stdout.strip()) == (0, "No jurisdictions.")


def test_branch_places_are_checked_and_shown_canonical(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = f"places-{uuid.uuid4().hex[:8]}"

    def intrex(*args: str) -> subprocess.CompletedProcess[str]:
        return run([*args], server_env, tmp_path)

    def branch(command: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return intrex("branch", command, "--tenant", tenant, "--code", code, *args)

    assert intrex("tenant", "create", tenant).returncode == 0

    created = branch("create", "DHK-N", "--name", "Gulshan", "--city-corporation", "dhaka north")
    assert created.returncode == 0, created.stderr
    assert (
        created.stdout.split()
        == (
            f"Created branch DHK-N Gulshan (Dhaka North City Corporation, Dhaka, Dhaka) in {tenant}"
        ).split()
    )

    moved = branch("update", "dhk-n", "--district", "গাজীপুর", "--city-corporation", "", "--json")
    assert moved.returncode == 0, moved.stderr
    place = as_json(moved)["branch"]
    assert (place["region"], place["district"], place["city_corporation"]) == (
        "Dhaka",
        "Gazipur",
        None,
    )

    typo = branch("create", "CTG-1", "--name", "Port", "--district", "Chatogram")
    assert typo.returncode == 1
    assert " ".join(typo.stderr.split()) == (
        "Error: Unknown district “Chatogram”: did you mean Chattogram?"
    )
    mismatch = branch(
        "create",
        "CTG-1",
        "--name",
        "Port",
        "--district",
        "Chattogram",
        "--region",
        "Dhaka",
        "--json",
    )
    assert mismatch.returncode == 1
    assert as_json(mismatch) == {
        "ok": False,
        "error": "Chattogram district is not in Dhaka division.",
    }
    listed = as_json(intrex("branch", "list", "--tenant", tenant, "--json"))
    assert [b["code"] for b in listed["branches"]] == ["DHK-N"]
