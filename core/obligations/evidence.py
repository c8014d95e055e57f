"""Proof taken out of Intrex for an inspector: the chosen obligations' documents in one ZIP
with a manifest (SPEC §7), every file checked against its recorded SHA-256 as it is written.

- Files are read from the document store one at a time and written into the archive in
  chunks, hashed on the way: memory holds one document, never the whole export.
- A file that is missing from the store, or whose bytes no longer hash to what was recorded
  at upload, stops the export with an `EvidenceIntegrityError` naming it. The archive is
  written to a temporary file beside the destination and renamed over it only when every
  file and the manifest are in, so a refused or interrupted export leaves no ZIP behind
  (and an earlier ZIP of the same name untouched).
- Names inside the archive are built from the branch code, due date, title and id of each
  obligation and from the file's name, each part cleaned (no separators, no `..`, no control
  or format characters, no names Windows refuses) and made unique, so no entry can land
  outside the folder it is unpacked into, or overwrite another.
- `manifest.csv` is for people (headers in the chosen language, UTF-8 with the mark Excel
  needs, cells a spreadsheet would run as a formula neutralised as every export's are:
  `core.reports.sheets.neutralise`); `manifest.json` carries the same rows with stable keys, for
  machines. Both list, per file: the obligation (id, title), its branch, due date, status,
  who completed it and when, the file's name in the archive and as uploaded, its SHA-256
  and size, and who uploaded it when.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.clock import utc_now
from core.db.enums import ObligationStatus
from core.errors import ErrorCode, IntrexError, NotFoundError
from core.i18n import N_, SOURCE_LANGUAGE, Texts, texts_for
from core.i18n.labels import label
from core.obligations import policy
from core.obligations.documents import display_filename
from core.obligations.manage import find_obligation
from core.obligations.models import ObligationDocument, ObligationInstance
from core.obligations.schedule import status_for
from core.reports.sheets import CSV_ENCODING, neutralise
from core.storage import DocumentStorage
from core.storage.mime import DOCX, HEIC, XLSX
from core.tenancy.models import Branch, User
from core.tenancy.names import person_name
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
CHUNK_BYTES = 1024 * 1024
PART_LIMIT = 80
"""Characters per part of a name inside the archive (a folder, a file)."""
UNSAFE_CHARACTERS = frozenset('/\\:*?"<>|')
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in range(1, 10)}
    | {f"LPT{n}" for n in range(1, 10)}
)
STORED_AS_IS = frozenset({"image/jpeg", "image/png", "image/webp", HEIC, DOCX, XLSX})
"""Types that are compressed already: deflating them again costs time and saves nothing."""

MANIFEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("obligation_id", N_("Obligation id")),
    ("obligation_title", N_("Obligation")),
    ("branch_code", N_("Branch")),
    ("branch_name", N_("Branch name")),
    ("due_date", N_("Due date")),
    ("status", N_("Status")),
    ("completed_by", N_("Completed by")),
    ("completed_at", N_("Completed at")),
    ("file", N_("File in this archive")),
    ("original_filename", N_("File name")),
    ("sha256", N_("SHA-256")),
    ("size_bytes", N_("Size (bytes)")),
    ("uploaded_by", N_("Uploaded by")),
    ("uploaded_at", N_("Uploaded at")),
)
"""The manifest's columns: the JSON key, and the CSV header in the reader's language."""


class EvidenceIntegrityError(IntrexError):
    """A proof file cannot be exported as recorded: missing from the store, or its bytes no
    longer hash to the SHA-256 recorded at upload. Its parameters name the file."""


@dataclass(frozen=True)
class EvidenceSelection:
    """Which obligations' documents; every field left empty matches everything in scope."""

    branch_code: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    obligations: tuple[str, ...] = ()
    """Obligation ids, or their first 8+ hex digits (`find_obligation`)."""


@dataclass(frozen=True)
class EvidenceFile:
    """One document to export, with its obligation: one row of the manifest."""

    tenant_id: uuid.UUID
    branch_id: uuid.UUID
    obligation_id: uuid.UUID
    obligation_title: str
    branch_code: str
    branch_name: str
    due_date: date
    status: ObligationStatus
    completed_by: str | None
    completed_at: datetime | None
    document_id: uuid.UUID
    file: str
    """Its name inside the archive (a relative path, unique)."""
    original_filename: str
    mime_type: str
    sha256: str
    size_bytes: int
    uploaded_by: str | None
    uploaded_at: datetime
    storage_key: str

    def manifest_row(self, timezone: str) -> dict[str, Any]:
        """The manifest's values (`MANIFEST_COLUMNS`), times in the tenant's zone."""
        return {
            "obligation_id": str(self.obligation_id),
            "obligation_title": self.obligation_title,
            "branch_code": self.branch_code,
            "branch_name": self.branch_name,
            "due_date": self.due_date.isoformat(),
            "status": self.status.value,
            "completed_by": self.completed_by,
            "completed_at": _local(self.completed_at, timezone),
            "file": self.file,
            "original_filename": self.original_filename,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "uploaded_by": self.uploaded_by,
            "uploaded_at": _local(self.uploaded_at, timezone),
        }


@dataclass(frozen=True)
class EvidenceArchive:
    """What was written: the ZIP's path and the manifest's rows."""

    path: Path
    files: list[EvidenceFile]

    @property
    def obligations(self) -> int:
        return len({file.obligation_id for file in self.files})

    @property
    def total_bytes(self) -> int:
        return sum(file.size_bytes for file in self.files)


def _local(moment: datetime | None, timezone: str) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(timezone)).isoformat(sep=" ", timespec="seconds")


def safe_part(text: str, limit: int = PART_LIMIT) -> str:
    """One folder or file name that every unzip tool keeps where it belongs: no separators
    or characters Windows refuses, no control or format characters (bidi overrides among
    them, are dropped; white space of any kind is one space), no leading or trailing dots or
    spaces (so never `..`), not a reserved device
    name, at most `limit` characters with the extension kept."""
    kept = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in UNSAFE_CHARACTERS:
            kept.append("_")
        elif ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"):
            kept.append(ch)
    name = " ".join("".join(kept).split()).strip(" .") or "_"
    if name.split(".", 1)[0].upper() in WINDOWS_RESERVED:
        name = "_" + name
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 10:
        return name[:limit].rstrip(" .") or "_"
    return stem[: limit - len(extension) - 1].rstrip(" .") + "." + extension


def _numbered(path: str, number: int) -> str:
    folder, _, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    numbered = f"{stem} ({number}).{extension}" if dot and stem else f"{name} ({number})"
    return f"{folder}/{numbered}" if folder else numbered


def unique_names(paths: Iterable[str]) -> list[str]:
    """The paths made unique, ignoring case (as Windows and macOS unpack them): a second
    `licence.pdf` in a folder becomes `licence (2).pdf`. The manifests' names are taken."""
    taken = {MANIFEST_CSV.casefold(), MANIFEST_JSON.casefold()}
    unique = []
    for path in paths:
        candidate, number = path, 1
        while candidate.casefold() in taken:
            number += 1
            candidate = _numbered(path, number)
        taken.add(candidate.casefold())
        unique.append(candidate)
    return unique


def archive_path(code: str, due: date, title: str, obligation_id: uuid.UUID, filename: str) -> str:
    """`DHK-01/2026-06-30 Fire safety certificate [1a2b3c4d]/licence.pdf`."""
    folder = safe_part(f"{due.isoformat()} {title} [{obligation_id.hex[:8]}]")
    return f"{safe_part(code)}/{folder}/{safe_part(display_filename(filename))}"


async def evidence_files(
    session: AsyncSession, actor: Actor, selection: EvidenceSelection
) -> list[EvidenceFile]:
    """The documents of the selected obligations in the actor's scope, by branch, due date,
    title and upload, each with its (unique, safe) name inside the archive."""
    completer, uploader = aliased(User), aliased(User)
    conditions: list[Any] = [ObligationInstance.tenant_id == actor.tenant_id]
    if actor.branch_ids is not None:
        conditions.append(ObligationInstance.branch_id.in_(sorted(actor.branch_ids)))
    if selection.branch_code is not None:
        code = normalise_branch_code(selection.branch_code)
        branch = await session.scalar(select(Branch).where(Branch.code == code))
        if branch is None:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
        if not actor.covers(branch.id):
            raise NotFoundError(ErrorCode.branch_not_in_scope)
        conditions.append(ObligationInstance.branch_id == branch.id)
    if selection.due_from is not None:
        conditions.append(ObligationInstance.due_at >= selection.due_from)
    if selection.due_to is not None:
        conditions.append(ObligationInstance.due_at <= selection.due_to)
    if selection.obligations:
        wanted = [await find_obligation(session, reference) for reference in selection.obligations]
        conditions.append(ObligationInstance.id.in_(wanted))
    rows = await session.execute(
        select(
            ObligationDocument.id.label("document_id"),
            ObligationDocument.storage_key,
            ObligationDocument.filename,
            ObligationDocument.mime_type,
            ObligationDocument.sha256,
            ObligationDocument.size_bytes,
            ObligationDocument.created_at,
            ObligationInstance.tenant_id,
            ObligationInstance.branch_id,
            ObligationInstance.id.label("obligation_id"),
            ObligationInstance.title,
            ObligationInstance.status,
            ObligationInstance.due_at,
            ObligationInstance.completed_at,
            Branch.code,
            Branch.name,
            completer.id.label("completer_id"),
            completer.full_name.label("completer_full_name"),
            completer.telegram_name.label("completer_telegram_name"),
            completer.telegram_username.label("completer_telegram_username"),
            completer.email.label("completer_email"),
            uploader.id.label("uploader_id"),
            uploader.full_name.label("uploader_full_name"),
            uploader.telegram_name.label("uploader_telegram_name"),
            uploader.telegram_username.label("uploader_telegram_username"),
            uploader.email.label("uploader_email"),
        )
        .join(
            ObligationInstance, ObligationInstance.id == ObligationDocument.obligation_instance_id
        )
        .join(Branch, Branch.id == ObligationInstance.branch_id)
        .outerjoin(completer, completer.id == ObligationInstance.completed_by_user_id)
        .outerjoin(uploader, uploader.id == ObligationDocument.uploaded_by_user_id)
        .where(*conditions)
        .order_by(
            Branch.code,
            ObligationInstance.due_at,
            ObligationInstance.title,
            ObligationInstance.id,
            ObligationDocument.created_at,
            ObligationDocument.id,
        )
    )
    found = [row for row in rows if actor.owns_tenant_row(row.tenant_id, row.branch_id)]
    names = unique_names(
        archive_path(row.code, row.due_at, row.title, row.obligation_id, row.filename)
        for row in found
    )
    files = [_evidence_file(row, name, actor) for row, name in zip(found, names, strict=True)]
    return [file for file in files if policy.can_view(actor, file)]


def _name(row: Any, prefix: str) -> str | None:
    user_id = getattr(row, f"{prefix}_id")
    if user_id is None:
        return None
    return person_name(
        getattr(row, f"{prefix}_full_name"),
        getattr(row, f"{prefix}_telegram_name"),
        getattr(row, f"{prefix}_telegram_username"),
        getattr(row, f"{prefix}_email"),
        user_id,
    )


def _evidence_file(row: Any, name: str, actor: Actor) -> EvidenceFile:
    stored = ObligationStatus(row.status)
    return EvidenceFile(
        tenant_id=row.tenant_id,
        branch_id=row.branch_id,
        obligation_id=row.obligation_id,
        obligation_title=row.title,
        branch_code=row.code,
        branch_name=row.name,
        due_date=row.due_at,
        status=stored if not stored.is_open else status_for(row.due_at, actor.today),
        completed_by=_name(row, "completer"),
        completed_at=row.completed_at,
        document_id=row.document_id,
        file=name,
        original_filename=row.filename,
        mime_type=row.mime_type,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        uploaded_by=_name(row, "uploader"),
        uploaded_at=row.created_at,
        storage_key=row.storage_key,
    )


async def export_evidence(
    session: AsyncSession,
    actor: Actor,
    selection: EvidenceSelection,
    storage: DocumentStorage,
    destination: Path,
    *,
    language: str | None = None,
) -> EvidenceArchive:
    """Write the selected documents and their manifest to `destination` (a ZIP), checking
    every file against its recorded SHA-256; refused when nothing matches. The manifest's
    headers are in `language`, else the tenant's."""
    files = await evidence_files(session, actor, selection)
    if not files:
        raise NotFoundError(ErrorCode.evidence_none)
    texts = texts_for(language or actor.tenant_language or SOURCE_LANGUAGE)
    await write_evidence_zip(files, storage, destination, texts, actor.timezone)
    return EvidenceArchive(path=destination, files=files)


async def write_evidence_zip(
    files: list[EvidenceFile],
    storage: DocumentStorage,
    destination: Path,
    texts: Texts,
    timezone: str,
) -> None:
    """The archive, written beside `destination` and renamed over it once complete."""
    descriptor, temporary = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    try:
        with os.fdopen(descriptor, "w+b") as handle:
            with zipfile.ZipFile(handle, "w", allowZip64=True) as archive:
                for file in files:
                    try:
                        data = await storage.get(file.storage_key)
                    except KeyError:
                        raise EvidenceIntegrityError(
                            ErrorCode.evidence_file_missing,
                            name=file.original_filename,
                            title=file.obligation_title,
                            code=file.branch_code,
                        ) from None
                    await asyncio.to_thread(_add_verified, archive, file, data, timezone)
                    del data
                await asyncio.to_thread(_add_manifests, archive, files, texts, timezone)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _zip_time(moment: datetime, timezone: str) -> tuple[int, int, int, int, int, int]:
    local = moment.astimezone(ZoneInfo(timezone))
    return max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second


def _add_verified(archive: zipfile.ZipFile, file: EvidenceFile, data: bytes, timezone: str) -> None:
    """Write one document in chunks, hashing what is written; refuse it (and so the whole
    archive) when the bytes are not the ones recorded at upload."""
    entry = zipfile.ZipInfo(file.file, date_time=_zip_time(file.uploaded_at, timezone))
    entry.compress_type = (
        zipfile.ZIP_STORED if file.mime_type in STORED_AS_IS else zipfile.ZIP_DEFLATED
    )
    hasher = hashlib.sha256()
    view = memoryview(data)
    with archive.open(entry, "w", force_zip64=len(data) >= zipfile.ZIP64_LIMIT) as written:
        for start in range(0, len(view), CHUNK_BYTES):
            chunk = view[start : start + CHUNK_BYTES]
            hasher.update(chunk)
            written.write(chunk)
    found = hasher.hexdigest()
    if found != file.sha256 or len(data) != file.size_bytes:
        raise EvidenceIntegrityError(
            ErrorCode.evidence_file_corrupt,
            name=file.original_filename,
            title=file.obligation_title,
            code=file.branch_code,
            expected=file.sha256,
            found=found,
        )


def _add_manifests(
    archive: zipfile.ZipFile, files: list[EvidenceFile], texts: Texts, timezone: str
) -> None:
    rows = [file.manifest_row(timezone) for file in files]
    with (
        archive.open(MANIFEST_CSV, "w") as raw,
        io.TextIOWrapper(raw, encoding=CSV_ENCODING, newline="") as text,
    ):
        writer = csv.writer(text)
        writer.writerow(texts.gettext(header) for _key, header in MANIFEST_COLUMNS)
        for row, file in zip(rows, files, strict=True):
            cells = {**row, "status": label(texts, file.status)}
            writer.writerow(
                neutralise("" if cells[key] is None else str(cells[key]))
                for key, _header in MANIFEST_COLUMNS
            )
    document = {
        "generated_at": _local(utc_now(), timezone),
        "timezone": timezone,
        "files": rows,
    }
    archive.writestr(
        MANIFEST_JSON, json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    )
