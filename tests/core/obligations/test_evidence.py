"""`export_evidence`: the chosen obligations' proof files in a ZIP whose manifest hashes match
the files inside it; a missing or altered stored file refuses the export and leaves no ZIP.

Proofs are uploaded through the real two-phase upload (`upload_proof`) into a real local
store; the ZIP is read back with `zipfile` and every byte of it is checked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from core.db.enums import AppRole
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError
from core.i18n import texts_for
from core.obligations.actions import complete_obligation
from core.obligations.evidence import (
    MANIFEST_COLUMNS,
    EvidenceIntegrityError,
    EvidenceSelection,
    export_evidence,
    safe_part,
    unique_names,
)
from core.storage import LocalStorage
from core.tenancy.scope import ActorUnits, console_unit
from tests.companies import PDF, Company, company, obligation, person
from tests.core.obligations.helpers import upload_proof


def pdf(tag: str) -> bytes:
    """A distinct small PDF (the store keys by content, so each proof is its own file)."""
    return PDF.replace(b"%%EOF", f"% {tag}\n%%EOF".encode())


@dataclass
class Evidence:
    db: Database
    acme: Company
    storage: LocalStorage
    operator: ActorUnits
    fire: uuid.UUID
    trade: uuid.UUID
    vat: uuid.UUID
    uploads: dict[str, bytes]
    """What was uploaded, by the name it was stored under."""


async def seeded(db: Database, tmp_path: Path) -> Evidence:
    """DHK-01: a fire drill (two files both called licence.pdf, then completed by Opu) and a
    trade licence whose title and file name try to escape the archive; CTG-02: VAT."""
    acme = await company(db)
    storage = LocalStorage(tmp_path / "documents")
    opu = await person(db, acme.tenant, AppRole.operator, [acme.dhaka], name="Opu Das")
    chandra = await person(db, acme.tenant, AppRole.operator, [acme.chattogram], name="Chandra")
    fire = await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=True)
    trade = await obligation(
        db, acme, acme.dhaka, "=HYPERLINK(../../etc) / licence", due_in_days=20, proof=False
    )
    vat = await obligation(db, acme, acme.chattogram, "VAT return", due_in_days=40, proof=False)
    uploads = {
        "licence.pdf": pdf("first"),
        "LICENCE.pdf": pdf("second"),
        "passwd.pdf": pdf("escape"),
        "vat.pdf": pdf("vat"),
    }
    await upload_proof(opu, fire, "licence.pdf", uploads["licence.pdf"], storage)
    await upload_proof(opu, fire, "LICENCE.pdf", uploads["LICENCE.pdf"], storage)
    await upload_proof(opu, trade, "../../etc/passwd.pdf", uploads["passwd.pdf"], storage)
    await upload_proof(chandra, vat, "vat.pdf", uploads["vat.pdf"], storage)
    async with opu() as (session, actor):
        await complete_obligation(session, actor, fire)
    return Evidence(db, acme, storage, opu, fire, trade, vat, uploads)


@pytest.fixture
async def evidence(db: Database, tmp_path: Path) -> Evidence:
    return await seeded(db, tmp_path)


async def export(
    world: Evidence,
    destination: Path,
    selection: EvidenceSelection | None = None,
    *,
    units: ActorUnits | None = None,
    language: str | None = None,
) -> list[str]:
    """Export as head office (the command line) or as `units`; the archive's file names."""
    if units is None:
        async with console_unit(world.db, world.acme.tenant.id) as (session, actor):
            archive = await export_evidence(
                session,
                actor,
                selection or EvidenceSelection(),
                world.storage,
                destination,
                language=language,
            )
    else:
        async with units() as (session, actor):
            archive = await export_evidence(
                session,
                actor,
                selection or EvidenceSelection(),
                world.storage,
                destination,
                language=language,
            )
    return [file.file for file in archive.files]


def read_manifest(path: Path) -> tuple[list[str], list[list[str]], dict[str, object]]:
    with zipfile.ZipFile(path) as archive:
        text = archive.read("manifest.csv").decode("utf-8-sig")
        document = json.loads(archive.read("manifest.json"))
    header, *rows = list(csv.reader(io.StringIO(text)))
    return header, rows, document


async def test_the_manifest_hashes_match_the_files_inside_the_zip(
    evidence: Evidence, tmp_path: Path
) -> None:
    destination = tmp_path / "out" / "evidence.zip"
    destination.parent.mkdir()

    names = await export(evidence, destination)

    with zipfile.ZipFile(destination) as archive:
        assert archive.testzip() is None
        inside = archive.namelist()
        contents = {name: archive.read(name) for name in inside}
    assert sorted(inside) == sorted([*names, "manifest.csv", "manifest.json"])
    assert len({name.casefold() for name in inside}) == len(inside)
    for name in inside:
        parts = name.split("/")
        assert not name.startswith("/")
        assert "\\" not in name
        assert ":" not in name
        assert all(part and part not in (".", "..") and not part.startswith(".") for part in parts)

    header, rows, document = read_manifest(destination)
    assert header == [texts_for("en").gettext(words) for _key, words in MANIFEST_COLUMNS]
    files = document["files"]
    assert isinstance(files, list)
    assert len(files) == len(rows) == 4
    for row, entry in zip(rows, files, strict=True):
        stored = contents[entry["file"]]
        assert hashlib.sha256(stored).hexdigest() == entry["sha256"] == row[10]
        assert len(stored) == entry["size_bytes"] == int(row[11])
        assert stored == evidence.uploads[entry["original_filename"]]

    by_name = {entry["original_filename"]: entry for entry in files}
    first, second = by_name["licence.pdf"], by_name["LICENCE.pdf"]
    assert first["file"].rsplit("/", 1)[0] == second["file"].rsplit("/", 1)[0]
    assert first["file"].startswith("DHK-01/")
    assert {first["file"].rsplit("/", 1)[1], second["file"].rsplit("/", 1)[1]} == {
        "licence.pdf",
        "LICENCE (2).pdf",
    }
    assert first["obligation_id"] == str(evidence.fire)
    assert first["completed_by"] == "Opu Das"
    assert first["completed_at"]
    assert first["uploaded_by"] == "Opu Das"
    assert first["status"] == "completed"
    assert by_name["passwd.pdf"]["file"].endswith("/passwd.pdf")
    assert by_name["vat.pdf"]["file"].startswith("CTG-02/")
    assert by_name["vat.pdf"]["completed_by"] is None
    trade_row = next(row for row in rows if row[0] == str(evidence.trade))
    assert trade_row[1] == "'=HYPERLINK(../../etc) / licence"
    assert files_in(destination.parent) == ["evidence.zip"]


async def test_the_selection_picks_branch_dates_and_obligations(
    evidence: Evidence, tmp_path: Path
) -> None:
    zip_path = tmp_path / "e.zip"
    ctg = await export(evidence, zip_path, EvidenceSelection(branch_code="ctg-02"))
    assert [name.split("/")[0] for name in ctg] == ["CTG-02"]
    fire_only = await export(
        evidence, zip_path, EvidenceSelection(obligations=(evidence.fire.hex[:8],))
    )
    assert len(fire_only) == 2
    assert all("Fire drill" in name for name in fire_only)
    async with console_unit(evidence.db, evidence.acme.tenant.id) as (_session, actor):
        today = actor.today
    soon = await export(
        evidence,
        zip_path,
        EvidenceSelection(due_from=today + timedelta(days=10), due_to=today + timedelta(days=30)),
    )
    assert len(soon) == 1
    assert soon[0].endswith("/passwd.pdf")
    with pytest.raises(NotFoundError) as nothing:
        await export(evidence, zip_path, EvidenceSelection(due_from=today + timedelta(days=400)))
    assert nothing.value.code is ErrorCode.evidence_none
    with pytest.raises(NotFoundError) as unknown:
        await export(evidence, zip_path, EvidenceSelection(branch_code="NOPE-1"))
    assert unknown.value.code is ErrorCode.branch_not_found


async def test_a_manager_exports_their_branches_only(evidence: Evidence, tmp_path: Path) -> None:
    mina = await person(
        evidence.db, evidence.acme.tenant, AppRole.branch_manager, [evidence.acme.chattogram]
    )
    names = await export(evidence, tmp_path / "mine.zip", units=mina)
    assert [name.split("/")[0] for name in names] == ["CTG-02"]
    with pytest.raises(NotFoundError) as refused:
        await export(
            evidence, tmp_path / "theirs.zip", EvidenceSelection(branch_code="DHK-01"), units=mina
        )
    assert refused.value.code is ErrorCode.branch_not_in_scope
    assert not (tmp_path / "theirs.zip").exists()


async def test_the_manifest_speaks_bengali_when_asked(evidence: Evidence, tmp_path: Path) -> None:
    destination = tmp_path / "bn.zip"
    await export(evidence, destination, language="bn")
    header, rows, _document = read_manifest(destination)
    bengali = texts_for("bn")
    assert header == [bengali.gettext(words) for _key, words in MANIFEST_COLUMNS]
    assert header[1] != "Obligation"
    assert rows[0][10]
    assert len(rows[0][10]) == 64


def files_in(folder: Path) -> list[str]:
    """Every file in `folder`, hidden ones (a half-written `.part`) included."""
    return sorted(path.name for path in folder.iterdir() if path.is_file())


def stored_path(storage: LocalStorage, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return storage.root / "sha256" / digest[:2] / digest


async def test_a_corrupted_stored_file_is_refused_and_no_zip_is_left(
    evidence: Evidence, tmp_path: Path
) -> None:
    destination = tmp_path / "evidence.zip"
    destination.write_bytes(b"an earlier export")
    altered = stored_path(evidence.storage, evidence.uploads["vat.pdf"])
    altered.write_bytes(evidence.uploads["vat.pdf"].replace(b"vat", b"VAT"))

    with pytest.raises(EvidenceIntegrityError) as refused:
        await export(evidence, destination)

    assert refused.value.code is ErrorCode.evidence_file_corrupt
    assert refused.value.params["name"] == "vat.pdf"
    assert "“vat.pdf” of “VAT return” (CTG-02)" in refused.value.message
    assert hashlib.sha256(evidence.uploads["vat.pdf"]).hexdigest() in refused.value.message
    assert destination.read_bytes() == b"an earlier export"
    assert files_in(tmp_path) == ["evidence.zip"]


async def test_a_missing_stored_file_is_refused_by_name(evidence: Evidence, tmp_path: Path) -> None:
    stored_path(evidence.storage, evidence.uploads["LICENCE.pdf"]).unlink()
    destination = tmp_path / "evidence.zip"
    with pytest.raises(EvidenceIntegrityError) as refused:
        await export(evidence, destination)
    assert refused.value.code is ErrorCode.evidence_file_missing
    assert "“LICENCE.pdf” of “Fire drill” (DHK-01) is missing" in refused.value.message
    assert files_in(tmp_path) == []


def test_names_inside_the_archive_cannot_escape_or_collide() -> None:
    assert safe_part("..") == "_"
    assert safe_part("../../etc") == "_.._etc"
    assert safe_part(" .hidden. ") == "hidden"
    assert safe_part('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert safe_part("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert safe_part("line\nbreak\ttab\x00") == "line break tab"
    assert safe_part("CON.pdf") == "_CON.pdf"
    long = safe_part("x" * 200 + ".pdf")
    assert len(long) == 80
    assert long.endswith(".pdf")
    assert safe_part("বাণিজ্য লাইসেন্স.pdf") == "বাণিজ্য লাইসেন্স.pdf"
    assert unique_names(["a/x.pdf", "a/X.pdf", "a/x.pdf", "b/x.pdf", "manifest.csv"]) == [
        "a/x.pdf",
        "a/X (2).pdf",
        "a/x (3).pdf",
        "b/x.pdf",
        "manifest (2).csv",
    ]
