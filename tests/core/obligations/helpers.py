"""Templates, proof uploads and read-backs for the obligation tests, through the real services.

Tenants, branches and people come from `tests.companies`."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import func, select

from core.audit.models import ActivityLog
from core.db.enums import ObligationCategory, Severity
from core.db.session import Database
from core.errors import IntrexError
from core.obligations.documents import (
    UploadLimits,
    UploadResult,
    accept_proof,
    drop_pending_upload,
    record_pending_upload,
    store_upload,
)
from core.obligations.models import ObligationInstance
from core.obligations.recurrence import Recurrence
from core.obligations.templates import TemplateResult, TemplateSpec, create_template
from core.storage import DocumentStorage
from core.tenancy.models import Branch, Tenant
from core.tenancy.scope import ActorUnits, console_unit

LIMITS = UploadLimits(max_bytes=1024 * 1024, files_per_day=50, bytes_per_day=50 * 1024 * 1024)


async def new_template(
    db: Database,
    tenant: Tenant,
    *,
    anchor: date,
    recurrence: Recurrence = Recurrence.monthly,
    branch: Branch | None = None,
    jurisdiction_id: uuid.UUID | None = None,
    proof_required: bool = False,
    lead_days: tuple[int, ...] = (30, 14, 7, 1, 0),
    now: datetime | None = None,
    title: str = "VAT return",
    severity: Severity = Severity.high,
    category: ObligationCategory = ObligationCategory.tax_vat,
    grace_days: int = 0,
    owner_user_id: int | None = None,
) -> TemplateResult:
    """A template made by `create_template`, as the command line makes one (head office)."""
    async with console_unit(db, tenant.id, now=now) as (session, actor):
        return await create_template(
            session,
            actor,
            TemplateSpec(
                category=category,
                title=title,
                recurrence=recurrence,
                severity=severity,
                anchor_date=anchor,
                proof_required=proof_required,
                reminder_lead_days=lead_days,
                branch_id=branch.id if branch else None,
                jurisdiction_id=jurisdiction_id,
                grace_days=grace_days,
                owner_user_id=owner_user_id,
            ),
        )


async def instances_of(
    db: Database, tenant: Tenant, template_id: uuid.UUID | None = None
) -> list[ObligationInstance]:
    async with db.tenant_uow(tenant.id) as session:
        query = select(ObligationInstance).order_by(
            ObligationInstance.due_at, ObligationInstance.branch_id
        )
        if template_id is not None:
            query = query.where(ObligationInstance.template_id == template_id)
        return list(await session.scalars(query))


async def audit_count(db: Database, tenant: Tenant, action: str) -> int:
    async with db.tenant_uow(tenant.id) as session:
        found = await session.scalar(select(func.count()).where(ActivityLog.action == action))
    return int(found or 0)


async def upload_proof(
    units: ActorUnits,
    instance_id: uuid.UUID,
    filename: str | None,
    data: bytes,
    storage: DocumentStorage,
    limits: UploadLimits = LIMITS,
    *,
    declared_size: int | None = None,
    now: datetime | None = None,
) -> UploadResult:
    """Both phases of a proof upload as the bot runs them, without the chat.

    Phase 1 accepts the proof (of `declared_size`; None: a size Telegram did not declare)
    and writes the pending row, as the bot does when the file arrives; phase 2 stores the
    bytes in a new unit of work, as after the download; a refusal there forgets the
    pending file, as `bot.uploads.finish_upload` does.
    """
    async with units(now=now) as (session, actor):
        await accept_proof(session, actor, instance_id, declared_size, limits)
    pending = await record_pending_upload(
        units.db,
        actor,
        instance_id=instance_id,
        chat_id=units.user_id,
        file_id=f"file-{uuid.uuid4().hex}",
        filename=filename,
        consumed_state_keys=[],
        lease=limits.resume_after,
        now=now,
    )
    try:
        async with units(now=now) as (session, actor):
            return await store_upload(session, actor, pending, data, storage, limits)
    except IntrexError:
        await drop_pending_upload(units.db, pending.id)  # refused: the person is told why
        raise
