"""Proof uploads: refused with a reason, or stored once, and never half-written."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.config import Settings
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import NotFoundError, ValidationError
from core.obligations.documents import attach_document, display_filename, read_document
from core.obligations.models import ObligationDocument
from core.obligations.recurrence import Recurrence
from core.storage import LocalStorage
from core.tenancy.models import Branch, Tenant, User
from tests.core.obligations.helpers import (
    audit_count,
    instances_of,
    new_branch,
    new_template,
    new_tenant,
    new_user,
)

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(100)


class World:
    tenant: Tenant
    branch: Branch
    operator: User
    instance_id: uuid.UUID
    storage: LocalStorage
    settings: Settings


@pytest.fixture
async def world(db: Database, tmp_path: Path) -> World:
    w = World()
    w.tenant = await new_tenant(db)
    w.branch = await new_branch(db, w.tenant, "HQ")
    w.operator = await new_user(db, w.tenant, AppRole.operator, [w.branch])
    made = await new_template(
        db, w.tenant, anchor=date.today() + timedelta(days=40), recurrence=Recurrence.none
    )
    (instance,) = await instances_of(db, w.tenant, made.template.id)
    w.instance_id = instance.id
    w.storage = LocalStorage(tmp_path / "documents")
    w.settings = Settings(max_document_bytes=1024, data_dir=tmp_path)
    return w


async def document_rows(db: Database, w: World) -> int:
    async with db.tenant_uow(w.tenant.id) as session:
        return int(await session.scalar(select(func.count(ObligationDocument.id))) or 0)


def stored_files(w: World) -> list[Path]:
    return [p for p in w.storage.root.rglob("*") if p.is_file()]


async def upload(db: Database, w: World, name: str, data: bytes) -> object:
    return await attach_document(
        db, w.operator, str(w.instance_id), name, data, storage=w.storage, settings=w.settings
    )


async def test_refusals_name_the_reason_and_store_nothing(db: Database, world: World) -> None:
    cases = [
        ("big.pdf", PDF + bytes(2000), "over the 1.0 KiB limit"),
        ("invoice.pdf", EXE, "not an accepted type (it looks like application/vnd.microsoft"),
        ("empty.pdf", b"", "The file is empty"),
        ("notes.docx", b"just some text, not a document", "not an accepted type"),
    ]
    for name, data, message in cases:
        with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
            await upload(db, world, name, data)
    assert await document_rows(db, world) == 0
    assert stored_files(world) == []
    assert await audit_count(db, world.tenant, "obligation.document.upload") == 0


async def test_upload_stores_checked_type_and_recognises_duplicates(
    db: Database, world: World
) -> None:
    first = await upload(db, world, "../../etc/licence.PDF", PDF)
    assert not first.duplicate  # type: ignore[attr-defined]
    document = first.document  # type: ignore[attr-defined]
    assert document.mime_type == "application/pdf"
    assert document.filename == "licence.PDF"
    assert document.size_bytes == len(PDF)
    assert document.storage_key == f"sha256/{document.sha256[:2]}/{document.sha256}"
    assert stored_files(world) == [world.storage.root.joinpath(*document.storage_key.split("/"))]

    again = await upload(db, world, "renamed.pdf", PDF)
    assert again.duplicate  # type: ignore[attr-defined]
    assert "already attached" in again.message  # type: ignore[attr-defined]
    assert again.document.id == document.id  # type: ignore[attr-defined]
    assert await document_rows(db, world) == 1
    assert await audit_count(db, world.tenant, "obligation.document.upload") == 1

    row, data = await read_document(db, world.operator, document.id, storage=world.storage)
    assert data == PDF
    assert row.id == document.id


async def test_office_documents_pass_when_they_really_are(db: Database, world: World) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    result = await upload(db, world, "fire.xlsx", buffer.getvalue())
    assert result.document.mime_type.endswith("spreadsheetml.sheet")  # type: ignore[attr-defined]


async def test_outsider_cannot_make_intrex_write_a_file(db: Database, world: World) -> None:
    elsewhere = await new_branch(db, world.tenant, "ELSEWHERE")
    outsider = await new_user(db, world.tenant, AppRole.operator, [elsewhere])
    with pytest.raises(NotFoundError):
        await attach_document(
            db,
            outsider,
            world.instance_id,
            "x.pdf",
            PDF,
            storage=world.storage,
            settings=world.settings,
        )
    assert stored_files(world) == []
    assert await document_rows(db, world) == 0


async def test_failed_database_write_leaves_no_row_and_a_reusable_blob(
    db: Database, world: World
) -> None:
    # The instance disappears between the checks and the row's insert: the row is refused
    # (nothing half-written in the database); the blob is content-addressed and a retry
    # to another obligation reuses it rather than writing again.
    class VanishingStorage(LocalStorage):
        async def put(self, data: bytes):  # type: ignore[no-untyped-def]
            stored = await super().put(data)
            async with db.tenant_uow(world.tenant.id) as session:
                from core.obligations.models import ObligationInstance

                instance = await session.get(ObligationInstance, world.instance_id)
                await session.delete(instance)
            return stored

    vanishing = VanishingStorage(world.storage.root)
    with pytest.raises(NotFoundError):
        await attach_document(
            db,
            world.operator,
            world.instance_id,
            "a.pdf",
            PDF,
            storage=vanishing,
            settings=world.settings,
        )
    assert await document_rows(db, world) == 0
    assert await audit_count(db, world.tenant, "obligation.document.upload") == 0
    assert len(stored_files(world)) == 1


def test_display_names_are_never_paths() -> None:
    assert display_filename("../../etc/passwd") == "passwd"
    assert display_filename("C:\\Users\\me\\scan.jpg") == "scan.jpg"
    assert display_filename("bad\x00name\n.pdf") == "bad_name_.pdf"
    assert display_filename("") == "document"
    assert display_filename(".hidden") == "hidden"
    assert len(display_filename("a" * 1000)) == 255
