"""Proof documents: checked from their content, stored by content, recorded with the upload.

Order of work, so that nothing is ever half-written:
1. Size and type are checked on the bytes (the name and any claimed type are ignored).
2. Scope and duplicates are checked in the database before anything touches the disk, so
   a user outside the branch cannot even make Intrex write a file.
3. The bytes are written under their content key (atomic rename; idempotent: equal bytes
   land on the same key).
4. The document row and its audit entry are written in one transaction.
A failure in 4 leaves at most an unreferenced blob that a retry reuses under the same
key; there is never a row pointing at bytes that were not fully written. Deleting the
blob on failure is deliberately not attempted: the same bytes may be referenced by a
concurrent upload to another obligation, which a delete could break.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.config import Settings, get_settings
from core.db.session import Database
from core.errors import ValidationError
from core.obligations.access import not_found
from core.obligations.models import ObligationDocument, ObligationInstance
from core.storage import DocumentStorage, local_storage
from core.storage.base import digest
from core.storage.mime import DOCX, HEIC, XLSX, detect_mime
from core.tenancy.models import User
from core.tenancy.scope import load_actor

ALLOWED_TYPES: dict[str, str] = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    HEIC: "HEIC",
    DOCX: "Word (DOCX)",
    XLSX: "Excel (XLSX)",
}
ALLOWED_DESCRIPTION = "PDF, JPEG, PNG, WebP, HEIC, Word (DOCX) or Excel (XLSX)"
UNSAFE_NAME_CHARACTERS = re.compile(r"[\x00-\x1f\x7f/\\]+")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def display_filename(filename: str | None) -> str:
    """The name as shown to people (never used as a path): last component, printable, short."""
    name = unicodedata.normalize("NFC", filename or "")
    name = UNSAFE_NAME_CHARACTERS.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    name = name.lstrip(".") or "document"
    return name[:255]


def check_content(data: bytes, max_bytes: int) -> str:
    """The content's MIME type if it may be stored; a clear refusal otherwise."""
    if not data:
        raise ValidationError("The file is empty: nothing was stored.")
    if len(data) > max_bytes:
        raise ValidationError(
            f"The file is {human_size(len(data))}, over the {human_size(max_bytes)} limit "
            "for proof documents."
        )
    mime = detect_mime(data)
    if mime not in ALLOWED_TYPES:
        raise ValidationError(
            f"This file's content is not an accepted type (it looks like {mime}). "
            f"Send a {ALLOWED_DESCRIPTION} file."
        )
    return mime


@dataclass(frozen=True)
class UploadResult:
    document: ObligationDocument
    duplicate: bool
    """True when this very file was already attached to the obligation (nothing new stored)."""

    @property
    def message(self) -> str:
        if self.duplicate:
            return (
                f"This file is already attached to the obligation (as “{self.document.filename}”)."
            )
        return f"Stored “{self.document.filename}” ({ALLOWED_TYPES[self.document.mime_type]})."


async def _in_scope_instance(
    session: AsyncSession, user: User, instance_id: uuid.UUID
) -> ObligationInstance:
    actor = await load_actor(session, user)
    instance = await session.get(ObligationInstance, instance_id)
    if instance is None or not actor.covers(instance.branch_id):
        raise not_found()
    return instance


async def _existing(
    session: AsyncSession, instance_id: uuid.UUID, sha256: str
) -> ObligationDocument | None:
    return await session.scalar(
        select(ObligationDocument).where(
            ObligationDocument.obligation_instance_id == instance_id,
            ObligationDocument.sha256 == sha256,
        )
    )


async def attach_document(
    db: Database,
    user: User,
    instance_id: uuid.UUID | str,
    filename: str | None,
    data: bytes,
    *,
    storage: DocumentStorage | None = None,
    settings: Settings | None = None,
) -> UploadResult:
    """Attach proof to an obligation in the user's scope (see the module doc for the order)."""
    from core.obligations.service import parse_instance_id

    config = settings or get_settings()
    store = storage or local_storage(config)
    parsed = parse_instance_id(instance_id)
    mime = check_content(data, config.max_document_bytes)
    sha256 = digest(data)
    name = display_filename(filename)

    async with db.tenant_uow(user.tenant_id) as session:
        instance = await _in_scope_instance(session, user, parsed)
        existing = await _existing(session, instance.id, sha256)
    if existing is not None:
        return UploadResult(document=existing, duplicate=True)

    stored = await store.put(data)

    async with db.tenant_uow(user.tenant_id) as session:
        instance = await _in_scope_instance(session, user, parsed)
        inserted = await session.scalar(
            insert(ObligationDocument)
            .values(
                tenant_id=instance.tenant_id,
                obligation_instance_id=instance.id,
                storage_key=stored.key,
                filename=name,
                mime_type=mime,
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                uploaded_by_user_id=user.id,
            )
            .on_conflict_do_nothing(
                constraint="uq_obligation_documents_obligation_instance_id_sha256"
            )
            .returning(ObligationDocument.id)
        )
        if inserted is None:
            raced = await _existing(session, instance.id, sha256)
            assert raced is not None
            return UploadResult(document=raced, duplicate=True)
        document = await session.get(ObligationDocument, inserted)
        assert document is not None
        await record(
            session,
            tenant_id=instance.tenant_id,
            action="obligation.document.upload",
            entity_type="obligation_document",
            entity_id=document.id,
            after={
                "obligation_instance_id": str(instance.id),
                "filename": name,
                "mime_type": mime,
                "size_bytes": stored.size_bytes,
                "sha256": stored.sha256,
                "storage_key": stored.key,
            },
            user_id=user.id,
        )
    return UploadResult(document=document, duplicate=False)


async def read_document(
    db: Database,
    user: User,
    document_id: uuid.UUID,
    *,
    storage: DocumentStorage | None = None,
    settings: Settings | None = None,
) -> tuple[ObligationDocument, bytes]:
    """A document's row and bytes, for a user whose scope covers its obligation."""
    store = storage or local_storage(settings or get_settings())
    async with db.tenant_uow(user.tenant_id) as session:
        document = await session.get(ObligationDocument, document_id)
        if document is None:
            raise not_found()
        await _in_scope_instance(session, user, document.obligation_instance_id)
    return document, await store.get(document.storage_key)
