"""Proof documents: accepted, downloaded, checked from their content, stored by content.

An upload is two phases around the network, so no transaction waits on a download:
1. `accept_proof` (in the update's unit of work): the obligation is in scope and still
   open, the declared size fits, the person's daily quota has room. `record_pending_upload`
   then writes a `pending_uploads` row in the same system transaction that ends the chat's
   "waiting for proof" state: from here on the file cannot be lost, only delayed.
2. The edge downloads the bytes (stopping at the size limit, whatever Telegram declared),
   and `store_upload` re-checks everything in a new transaction on the locked obligation
   (it may have been completed meanwhile), checks the content's type, writes the bytes
   under their content key (atomic, idempotent), records the document and its audit entry,
   and deletes the pending row.
A process killed between the two leaves the pending row; its lease runs out and the bot's
worker finishes it (`claim_pending_uploads`). A failure in 2 leaves at most an unreferenced
blob that a retry reuses under the same key; there is never a row pointing at bytes that
were not fully written. Deleting the blob on failure is deliberately not attempted: the same
bytes may be referenced by a concurrent upload to another obligation.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.chat.models import ChatState
from core.clock import utc_now
from core.config import Settings
from core.db.session import Database
from core.errors import ByteSize, ErrorCode, NotFoundError, ValidationError
from core.obligations import policy
from core.obligations.actions import locked_instance, refuse_closed, view_of
from core.obligations.models import ObligationDocument, ObligationInstance, PendingUpload
from core.obligations.views import DocumentView, ObligationView, document_view
from core.storage import DocumentStorage
from core.storage.base import digest
from core.storage.mime import DOCX, HEIC, XLSX, detect_mime
from core.tenancy.scope import Actor

ALLOWED_TYPES: dict[str, str] = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    HEIC: "HEIC",
    DOCX: "Word (DOCX)",
    XLSX: "Excel (XLSX)",
}
MAX_PENDING_ATTEMPTS = 5


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    files_per_day: int
    bytes_per_day: int
    resume_after: timedelta = timedelta(seconds=60)
    """How long a download in hand is left alone before the worker takes it over."""

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_bytes=settings.max_document_bytes,
            files_per_day=settings.upload_quota_files_per_day,
            bytes_per_day=settings.upload_quota_bytes_per_day,
            resume_after=timedelta(seconds=settings.upload_resume_seconds),
        )


def display_filename(filename: str | None) -> str:
    """The name as shown to people (never used as a path): last component, printable, short.

    Control and format characters go, the bidi overrides among them, so that
    `invoice\u202efdp.exe` cannot pose as `invoiceexe.pdf`.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = name.strip().lstrip(".") or "document"
    return name[:255]


def check_content(data: bytes, max_bytes: int) -> str:
    """The content's MIME type if it may be stored; a refusal otherwise."""
    if not data:
        raise ValidationError(ErrorCode.document_empty)
    if len(data) > max_bytes:
        raise ValidationError(
            ErrorCode.document_too_large, size=ByteSize(len(data)), limit=ByteSize(max_bytes)
        )
    mime = detect_mime(data)
    if mime not in ALLOWED_TYPES:
        raise ValidationError(ErrorCode.document_type_refused, detected=mime)
    return mime


def _start_of_day(actor: Actor) -> datetime:
    return datetime.combine(actor.today, time(), ZoneInfo(actor.timezone))


async def check_quota(
    session: AsyncSession, actor: Actor, incoming_bytes: int, limits: UploadLimits
) -> None:
    """Refuse when this upload would pass the person's files or bytes for the local day."""
    files, stored = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(ObligationDocument.size_bytes), 0)).where(
                ObligationDocument.uploaded_by_user_id == actor.user_id,
                ObligationDocument.created_at >= _start_of_day(actor),
            )
        )
    ).one()
    if files >= limits.files_per_day:
        raise ValidationError(ErrorCode.upload_quota_files, limit=limits.files_per_day)
    if stored + incoming_bytes > limits.bytes_per_day:
        raise ValidationError(ErrorCode.upload_quota_bytes, limit=ByteSize(limits.bytes_per_day))


async def accept_proof(
    session: AsyncSession,
    actor: Actor,
    instance_id: uuid.UUID,
    declared_size: int | None,
    limits: UploadLimits,
) -> ObligationView:
    """Phase 1: may this person send proof for this obligation now, of about this size?"""
    instance = await session.get(ObligationInstance, instance_id)
    if instance is None or not policy.can_view(actor, instance):
        raise NotFoundError(ErrorCode.obligation_not_found)
    if not policy.can_upload_proof(actor, instance):
        refuse_closed(actor, instance)
    if declared_size is not None and declared_size > limits.max_bytes:
        raise ValidationError(
            ErrorCode.document_too_large,
            size=ByteSize(declared_size),
            limit=ByteSize(limits.max_bytes),
        )
    await check_quota(session, actor, declared_size or 0, limits)
    return await view_of(session, actor, instance_id)


@dataclass(frozen=True)
class PendingFile:
    """A proof file accepted but not stored: enough to download and store it later."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: int
    obligation_instance_id: uuid.UUID
    chat_id: int
    file_id: str
    filename: str
    attempts: int = 0


async def record_pending_upload(
    db: Database,
    actor: Actor,
    *,
    instance_id: uuid.UUID,
    chat_id: int,
    file_id: str,
    filename: str | None,
    consumed_state_keys: Sequence[str],
    lease: timedelta,
    now: datetime | None = None,
) -> PendingFile:
    """Write the pending file and end the chat's waiting state, in one transaction.

    The system path, because conversation state belongs to no tenant; the tenant and user
    come from the actor that `accept_proof` just checked under row-level security.
    """
    moment = utc_now(now)
    name = display_filename(filename)
    async with db.system_uow() as session:
        pending_id = await session.scalar(
            insert(PendingUpload)
            .values(
                tenant_id=actor.tenant_id,
                user_id=actor.user_id,
                obligation_instance_id=instance_id,
                chat_id=chat_id,
                file_id=file_id,
                filename=name,
                claimed_until=moment + lease,
            )
            .returning(PendingUpload.id)
        )
        await session.execute(delete(ChatState).where(ChatState.key.in_(list(consumed_state_keys))))
    assert pending_id is not None
    return PendingFile(
        pending_id, actor.tenant_id, actor.person_id, instance_id, chat_id, file_id, name
    )


@dataclass(frozen=True)
class UploadResult:
    """The stored document (or the same file found already attached), and its obligation."""

    document: DocumentView
    obligation: ObligationView
    duplicate: bool
    """True when this very file was already attached to the obligation (nothing new stored)."""


async def _existing(
    session: AsyncSession, instance_id: uuid.UUID, sha256: str
) -> ObligationDocument | None:
    return await session.scalar(
        select(ObligationDocument).where(
            ObligationDocument.obligation_instance_id == instance_id,
            ObligationDocument.sha256 == sha256,
        )
    )


async def store_upload(
    session: AsyncSession,
    actor: Actor,
    pending: PendingFile,
    data: bytes,
    storage: DocumentStorage,
    limits: UploadLimits,
) -> UploadResult:
    """Phase 2: re-check on the locked obligation, store the bytes, record the document."""
    instance, _ = await locked_instance(session, actor, pending.obligation_instance_id)
    if not policy.can_upload_proof(actor, instance):
        refuse_closed(actor, instance)
    mime = check_content(data, limits.max_bytes)
    sha256 = digest(data)
    existing = await _existing(session, instance.id, sha256)
    if existing is not None:
        await session.execute(delete(PendingUpload).where(PendingUpload.id == pending.id))
        return UploadResult(
            document_view(existing), await view_of(session, actor, instance.id), duplicate=True
        )
    await check_quota(session, actor, len(data), limits)
    stored = await storage.put(data)
    document = ObligationDocument(
        tenant_id=instance.tenant_id,
        obligation_instance_id=instance.id,
        storage_key=stored.key,
        filename=pending.filename,
        mime_type=mime,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        uploaded_by_user_id=actor.user_id,
    )
    session.add(document)
    await session.execute(delete(PendingUpload).where(PendingUpload.id == pending.id))
    await session.flush()
    await session.refresh(document)
    await record(
        session,
        tenant_id=instance.tenant_id,
        action="obligation.document.upload",
        entity_type="obligation_document",
        entity_id=document.id,
        after={
            "obligation_instance_id": str(instance.id),
            "filename": pending.filename,
            "mime_type": mime,
            "size_bytes": stored.size_bytes,
            "sha256": stored.sha256,
            "storage_key": stored.key,
        },
        user_id=actor.user_id,
    )
    return UploadResult(
        document_view(document), await view_of(session, actor, instance.id), duplicate=False
    )


async def drop_pending_upload(db: Database, pending_id: uuid.UUID) -> None:
    """Forget a pending file that was refused (the person is told why) or given up on."""
    async with db.system_uow() as session:
        await session.execute(delete(PendingUpload).where(PendingUpload.id == pending_id))


async def note_pending_failure(db: Database, pending_id: uuid.UUID, code: str) -> None:
    async with db.system_uow() as session:
        await session.execute(
            update(PendingUpload)
            .where(PendingUpload.id == pending_id)
            .values(last_error=code[:100])
        )


CLAIM_PENDING_SQL = text(
    """
    WITH due AS (
        SELECT id FROM pending_uploads
        WHERE claimed_until IS NULL OR claimed_until < :now
        ORDER BY created_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE pending_uploads AS p
    SET claimed_until = :lease_end, attempts = p.attempts + 1
    FROM due WHERE p.id = due.id
    RETURNING p.id, p.tenant_id, p.user_id, p.obligation_instance_id, p.chat_id, p.file_id,
              p.filename, p.attempts
    """
)


async def claim_pending_uploads(
    db: Database, *, lease: timedelta, now: datetime | None = None, batch: int = 20
) -> list[PendingFile]:
    """Pending files whose download was abandoned (lease over), leased to this worker."""
    moment = utc_now(now)
    async with db.system_uow() as session:
        rows = await session.execute(
            CLAIM_PENDING_SQL, {"now": moment, "lease_end": moment + lease, "batch": batch}
        )
        return [
            PendingFile(
                id=row.id,
                tenant_id=row.tenant_id,
                user_id=row.user_id,
                obligation_instance_id=row.obligation_instance_id,
                chat_id=row.chat_id,
                file_id=row.file_id,
                filename=row.filename,
                attempts=row.attempts,
            )
            for row in rows
        ]


async def read_document(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, storage: DocumentStorage
) -> tuple[DocumentView, bytes]:
    """A document and its bytes, for an actor whose scope covers its obligation."""
    document = await session.get(ObligationDocument, document_id)
    if document is None:
        raise NotFoundError(ErrorCode.document_not_found)
    instance = await session.get(ObligationInstance, document.obligation_instance_id)
    if instance is None or not policy.can_view(actor, instance):
        raise NotFoundError(ErrorCode.document_not_found)
    return document_view(document), await storage.get(document.storage_key)
