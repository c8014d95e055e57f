"""`intrex evidence export`, run as a user runs it, against proofs uploaded through the real
upload services into the DATA_DIR the command reads."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.storage import LocalStorage
from tests.companies import PDF, Company, company, obligation, person
from tests.core.obligations.helpers import upload_proof
from tests.environment import INTREX, intrex_env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INTREX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


PROOFS = {
    "fire.pdf": PDF.replace(b"%%EOF", b"% fire\n%%EOF"),
    "vat.pdf": PDF.replace(b"%%EOF", b"% vat\n%%EOF"),
}


@pytest.fixture
async def acme(db: Database, tmp_path: Path) -> Company:
    made = await company(db)
    storage = LocalStorage(tmp_path / "data" / "documents")
    opu = await person(db, made.tenant, AppRole.operator, [made.dhaka, made.chattogram])
    fire = await obligation(db, made, made.dhaka, "Fire drill", due_in_days=3, proof=True)
    vat = await obligation(db, made, made.chattogram, "VAT return", due_in_days=9, proof=False)
    await upload_proof(opu, fire, "fire.pdf", PROOFS["fire.pdf"], storage)
    await upload_proof(opu, vat, "vat.pdf", PROOFS["vat.pdf"], storage)
    return made


@pytest.fixture
def env(target: DatabaseTarget, tmp_path: Path) -> dict[str, str]:
    return intrex_env(target, DATA_DIR=str(tmp_path / "data"))


def test_the_zip_holds_the_files_its_manifest_describes(
    acme: Company, env: dict[str, str], tmp_path: Path
) -> None:
    tenant = str(acme.tenant.id)
    machine = run(
        ["evidence", "export", "--tenant", tenant, "--output", "proof.zip", "--json"],
        env,
        tmp_path,
    )
    assert machine.returncode == 0, machine.stderr
    document = last_json(machine)
    assert (document["ok"], document["files"], document["obligations"]) == (True, 2, 2)
    assert document["path"] == str(tmp_path / "proof.zip")
    with zipfile.ZipFile(tmp_path / "proof.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))["files"]
        for row in manifest:
            inside = archive.read(row["file"])
            assert hashlib.sha256(inside).hexdigest() == row["sha256"]
            assert inside == PROOFS[row["original_filename"]]
        assert "manifest.csv" in archive.namelist()
    assert [row["branch_code"] for row in manifest] == ["CTG-02", "DHK-01"]
    assert document["manifest"] == manifest

    human = run(
        ["evidence", "export", "--tenant", tenant, "--branch", "DHK-01", "--output", "dhk.zip"],
        env,
        tmp_path,
    )
    assert human.returncode == 0, human.stderr
    assert "Wrote 1 file(s) of 1 obligation(s)" in human.stdout
    assert "every file matches its recorded SHA-256" in human.stdout


def test_a_corrupted_file_is_named_and_no_zip_is_written(
    acme: Company, env: dict[str, str], tmp_path: Path
) -> None:
    digest = hashlib.sha256(PROOFS["vat.pdf"]).hexdigest()
    stored = tmp_path / "data" / "documents" / "sha256" / digest[:2] / digest
    stored.write_bytes(b"%PDF-1.4 tampered")

    refused = run(
        ["evidence", "export", "--tenant", str(acme.tenant.id), "--output", "proof.zip"],
        env,
        tmp_path,
    )

    assert refused.returncode == 1
    assert "“vat.pdf” of “VAT return” (CTG-02) does not match its SHA-256" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == []


def test_bad_arguments_are_refused_before_anything_is_written(
    acme: Company, env: dict[str, str], tmp_path: Path
) -> None:
    tenant = str(acme.tenant.id)
    cases = [
        (["--from", "yesterday"], "“yesterday” is not a date"),
        (["--output", "missing/proof.zip"], "the folder"),
        (["--output", "."], "is a folder"),
        (["--branch", "NOPE-1"], "There is no branch NOPE-1."),
        (["--from", "2099-01-01"], "No proof files match"),
        (["--language", "fr"], "Unknown language “fr”"),
    ]
    for extra, message in cases:
        arguments = ["evidence", "export", "--tenant", tenant, "--output", "proof.zip", *extra]
        refused = run(arguments, env, tmp_path)
        assert refused.returncode == 1, (extra, refused.stdout)
        assert message in refused.stderr, (extra, refused.stderr)
        assert not (tmp_path / "proof.zip").exists()
