"""Proof uploads: refused with a reason, or stored once, never half-written, never lost.

Uploads are two phases around the download (`accept_proof` and the pending row, then
`store_upload` in a new unit of work); `upload_proof` runs both as the bot does.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db.enums import AppRole
from core.db.session import Database
from core.errors import ConflictError, ErrorCode, NotFoundError, ValidationError
from core.obligations.actions import complete_obligation
from core.obligations.documents import (
    UploadLimits,
    accept_proof,
    claim_pending_uploads,
    display_filename,
    read_document,
    record_pending_upload,
    store_upload,
)
from core.obligations.models import ObligationDocument, PendingUpload
from core.obligations.recurrence import Recurrence
from core.storage import LocalStorage
from core.tenancy.models import Branch, Tenant
from core.tenancy.scope import ActorUnits
from tests.companies import new_branch, new_tenant, person
from tests.core.obligations.helpers import audit_count, instances_of, new_template, upload_proof

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
OTHER_PDF = PDF.replace(b"<<>>", b"<< /Other true >>")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(100)
LIMITS = UploadLimits(max_bytes=1024, files_per_day=50, bytes_per_day=1024 * 1024)


@dataclass
class World:
    db: Database
    tenant: Tenant
    branch: Branch
    operator: ActorUnits
    instance_id: uuid.UUID
    storage: LocalStorage


async def make_world(db: Database, tmp_path: Path) -> World:
    tenant = await new_tenant(db)
    branch = await new_branch(db, tenant, "HQ")
    operator = await person(db, tenant, AppRole.operator, [branch])
    today = datetime.now(UTC).date()
    made = await new_template(
        db, tenant, anchor=today + timedelta(days=40), recurrence=Recurrence.none
    )
    (instance,) = await instances_of(db, tenant, made.template.id)
    return World(db, tenant, branch, operator, instance.id, LocalStorage(tmp_path / "documents"))


@pytest.fixture
async def world(db: Database, tmp_path: Path) -> World:
    return await make_world(db, tmp_path)


async def document_rows(w: World) -> int:
    async with w.db.tenant_uow(w.tenant.id) as session:
        return int(await session.scalar(select(func.count(ObligationDocument.id))) or 0)


async def pending_rows(w: World) -> list[PendingUpload]:
    async with w.db.tenant_uow(w.tenant.id) as session:
        return list(await session.scalars(select(PendingUpload)))


def stored_files(w: World) -> list[Path]:
    return [p for p in w.storage.root.rglob("*") if p.is_file()]


async def test_refusals_name_the_reason_and_store_nothing(world: World) -> None:
    cases = [
        ("big.pdf", PDF + bytes(2000), ErrorCode.document_too_large, "over the 1.0 KiB limit"),
        (
            "invoice.pdf",
            EXE,
            ErrorCode.document_type_refused,
            "not an accepted type (its content looks like "
            "application/vnd.microsoft.portable-executable)",
        ),
        ("empty.pdf", b"", ErrorCode.document_empty, "The file is empty"),
        ("notes.docx", b"just some text", ErrorCode.document_type_refused, "not an accepted type"),
    ]
    for name, data, code, message in cases:
        with pytest.raises(ValidationError, match=re.escape(message)) as refused:
            await upload_proof(world.operator, world.instance_id, name, data, world.storage, LIMITS)
        assert refused.value.code is code
    assert await document_rows(world) == 0
    assert await pending_rows(world) == []
    assert stored_files(world) == []
    assert await audit_count(world.db, world.tenant, "obligation.document.upload") == 0


async def test_a_declared_size_over_the_limit_is_refused_before_anything_is_kept(
    world: World,
) -> None:
    with pytest.raises(ValidationError, match=r"The file is 2\.0 KiB, over the 1\.0 KiB limit"):
        await upload_proof(
            world.operator,
            world.instance_id,
            "big.pdf",
            PDF,
            world.storage,
            LIMITS,
            declared_size=2048,
        )
    assert await pending_rows(world) == []
    assert stored_files(world) == []


async def test_upload_stores_checked_type_and_recognises_duplicates(world: World) -> None:
    first = await upload_proof(
        world.operator, world.instance_id, "../../etc/licence.PDF", PDF, world.storage, LIMITS
    )
    assert not first.duplicate
    document = first.document
    assert document.mime_type == "application/pdf"
    assert document.filename == "licence.PDF"
    assert document.size_bytes == len(PDF)
    assert document.uploaded_by_user_id == world.operator.user_id
    assert first.obligation.id == world.instance_id
    async with world.db.tenant_uow(world.tenant.id) as session:
        row = await session.get_one(ObligationDocument, document.id)
    assert row.storage_key == f"sha256/{document.sha256[:2]}/{document.sha256}"
    assert stored_files(world) == [world.storage.root.joinpath(*row.storage_key.split("/"))]
    assert await pending_rows(world) == []

    again = await upload_proof(
        world.operator, world.instance_id, "renamed.pdf", PDF, world.storage, LIMITS
    )
    assert again.duplicate
    assert again.document.id == document.id
    assert again.document.filename == "licence.PDF"
    assert await document_rows(world) == 1
    assert await pending_rows(world) == []
    assert await audit_count(world.db, world.tenant, "obligation.document.upload") == 1

    async with world.operator() as (session, actor):
        shown, data = await read_document(session, actor, document.id, world.storage)
    assert data == PDF
    assert shown.id == document.id


async def test_office_documents_pass_when_they_really_are(world: World) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    result = await upload_proof(
        world.operator, world.instance_id, "fire.xlsx", buffer.getvalue(), world.storage, LIMITS
    )
    assert result.document.mime_type.endswith("spreadsheetml.sheet")


async def test_outsider_cannot_make_intrex_write_or_read_a_file(world: World) -> None:
    elsewhere = await new_branch(world.db, world.tenant, "ELSEWHERE")
    outsider = await person(world.db, world.tenant, AppRole.operator, [elsewhere])
    with pytest.raises(NotFoundError, match="No such obligation in your branches"):
        await upload_proof(outsider, world.instance_id, "x.pdf", PDF, world.storage, LIMITS)
    assert stored_files(world) == []
    assert await document_rows(world) == 0
    assert await pending_rows(world) == []

    stored = await upload_proof(
        world.operator, world.instance_id, "x.pdf", PDF, world.storage, LIMITS
    )
    async with outsider() as (session, actor):
        with pytest.raises(NotFoundError, match="No such document in your branches"):
            await read_document(session, actor, stored.document.id, world.storage)


async def test_the_daily_quota_counts_files_and_bytes(world: World) -> None:
    one_file = UploadLimits(max_bytes=1024, files_per_day=1, bytes_per_day=1024 * 1024)
    await upload_proof(world.operator, world.instance_id, "a.pdf", PDF, world.storage, one_file)
    with pytest.raises(ValidationError, match="You have stored 1 files today") as files:
        await upload_proof(
            world.operator, world.instance_id, "b.pdf", OTHER_PDF, world.storage, one_file
        )
    assert files.value.code is ErrorCode.upload_quota_files

    few_bytes = UploadLimits(max_bytes=1024, files_per_day=50, bytes_per_day=len(PDF) + 10)
    with pytest.raises(ValidationError, match="Today's uploads would pass") as size:
        await upload_proof(
            world.operator, world.instance_id, "b.pdf", OTHER_PDF, world.storage, few_bytes
        )
    assert size.value.code is ErrorCode.upload_quota_bytes
    assert await document_rows(world) == 1


async def test_an_obligation_closed_during_the_download_takes_no_proof(world: World) -> None:
    async with world.operator() as (session, actor):
        await accept_proof(session, actor, world.instance_id, len(PDF), LIMITS)
    pending = await record_pending_upload(
        world.db,
        actor,
        instance_id=world.instance_id,
        chat_id=1,
        file_id="file-1",
        filename="late.pdf",
        consumed_state_keys=[],
        lease=LIMITS.resume_after,
    )
    async with world.operator() as (session, actor):
        await complete_obligation(session, actor, world.instance_id)
    with pytest.raises(ConflictError, match="already completed on") as closed:
        async with world.operator() as (session, actor):
            await store_upload(session, actor, pending, PDF, world.storage, LIMITS)
    assert closed.value.code is ErrorCode.obligation_completed_on
    assert stored_files(world) == []
    assert await document_rows(world) == 0


async def test_a_failed_unit_of_work_leaves_no_row_and_a_file_still_to_finish(
    private_db: Database, tmp_path: Path
) -> None:
    # The bytes are written, then the unit of work fails before it commits: no document
    # row, no audit entry (nothing half-written in the database). The pending row is
    # still there, so once its lease runs out the worker claims it and finishes; the blob
    # is content-addressed and the retry reuses it rather than writing again.
    w = await make_world(private_db, tmp_path)
    now = datetime.now(UTC)
    async with w.operator(now=now) as (session, actor):
        await accept_proof(session, actor, w.instance_id, len(PDF), LIMITS)
    pending = await record_pending_upload(
        w.db,
        actor,
        instance_id=w.instance_id,
        chat_id=42,
        file_id="file-42",
        filename="a.pdf",
        consumed_state_keys=[],
        lease=LIMITS.resume_after,
        now=now,
    )

    async def store_then_fail() -> None:
        async with w.operator(now=now) as (session, actor):
            await store_upload(session, actor, pending, PDF, w.storage, LIMITS)
            raise RuntimeError("killed before the commit")

    with pytest.raises(RuntimeError, match="killed"):
        await store_then_fail()
    assert await document_rows(w) == 0
    assert await audit_count(w.db, w.tenant, "obligation.document.upload") == 0
    assert len(stored_files(w)) == 1
    assert [row.id for row in await pending_rows(w)] == [pending.id]

    assert await claim_pending_uploads(w.db, lease=LIMITS.resume_after, now=now) == []
    later = now + LIMITS.resume_after + timedelta(seconds=1)
    [claimed] = await claim_pending_uploads(w.db, lease=LIMITS.resume_after, now=later)
    assert (claimed.id, claimed.file_id, claimed.filename) == (pending.id, "file-42", "a.pdf")
    assert claimed.attempts == 1
    units = ActorUnits(w.db, claimed.tenant_id, claimed.user_id)
    async with units() as (session, actor):
        finished = await store_upload(session, actor, claimed, PDF, w.storage, LIMITS)
    assert not finished.duplicate
    assert await document_rows(w) == 1
    assert await pending_rows(w) == []
    assert len(stored_files(w)) == 1


def test_display_names_are_never_paths() -> None:
    assert display_filename("../../etc/passwd") == "passwd"
    assert display_filename("C:\\Users\\me\\scan.jpg") == "scan.jpg"
    assert display_filename("bad\x00name\n.pdf") == "badname.pdf"
    assert display_filename("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert display_filename("") == "document"
    assert display_filename(None) == "document"
    assert display_filename(".hidden") == "hidden"
    assert len(display_filename("a" * 1000)) == 255
