"""Acting on an obligation: complete, waive, reopen.

Each takes the caller's tenant session and the acting `Actor` and never commits: the edge
owns the unit of work. The instance is locked first, then the policy is asked about the
row as it is now (a concurrent completion is seen), and every change writes its
`activity_logs` row and resolves the obligation's open alerts in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record, record_update, snapshot
from core.clock import utc_now
from core.db.enums import ObligationStatus
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.notify.events import resolve_events
from core.obligations import policy
from core.obligations.clock import reminder_fingerprint_prefixes
from core.obligations.generation import continue_series
from core.obligations.models import ObligationDocument, ObligationInstance, ObligationTemplate
from core.obligations.schedule import status_for
from core.obligations.views import ObligationView, to_view, view_select
from core.tenancy.scope import Actor

MAX_WAIVE_REASON = 1000


@dataclass(frozen=True)
class ActionResult:
    """An obligation after an action, and the series' next one when the series goes on."""

    obligation: ObligationView
    next_obligation: ObligationView | None
    resolved_alerts: int


async def view_of(session: AsyncSession, actor: Actor, instance_id: uuid.UUID) -> ObligationView:
    row = (await session.execute(view_select().where(ObligationInstance.id == instance_id))).one()
    return to_view(row._mapping, actor.today)


async def locked_instance(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID
) -> tuple[ObligationInstance, ObligationTemplate]:
    """The instance, locked for this transaction, if the actor may see it; else not found."""
    instance = await session.scalar(
        select(ObligationInstance).where(ObligationInstance.id == instance_id).with_for_update()
    )
    if instance is None or not policy.can_view(actor, instance):
        raise NotFoundError(ErrorCode.obligation_not_found)
    template = await session.get_one(ObligationTemplate, instance.template_id)
    return instance, template


def refuse_closed(actor: Actor, instance: ObligationInstance) -> None:
    """The refusal for acting on a closed instance, with the date in the tenant's calendar."""
    if instance.status is ObligationStatus.completed and instance.completed_at is not None:
        local = instance.completed_at.astimezone(ZoneInfo(actor.timezone)).date()
        raise ConflictError(ErrorCode.obligation_completed_on, date=local)
    if not instance.status.is_open:
        raise ConflictError(ErrorCode.obligation_closed, status=instance.status)


async def resolve_reminders(
    session: AsyncSession, instance: ObligationInstance, resolution: str, user_id: int | None
) -> int:
    """Close every open alert about this instance: its reminders and its overdue alert;
    their delivered Telegram copies say how and by whom."""
    return await resolve_events(
        session,
        tenant_id=instance.tenant_id,
        fingerprint_prefix=reminder_fingerprint_prefixes(instance.id),
        resolution=resolution,
        by_user_id=user_id,
    )


async def _close(
    session: AsyncSession,
    actor: Actor,
    instance: ObligationInstance,
    template: ObligationTemplate,
    *,
    action: str,
    before: dict[str, Any],
) -> ActionResult:
    """The common tail of complete and waive: resolve alerts, continue the series, audit."""
    instance.next_reminder_on = None
    resolution = "completed" if instance.status is ObligationStatus.completed else "waived"
    resolved = await resolve_reminders(session, instance, resolution, actor.user_id)
    following = await continue_series(session, instance, template, actor.today)
    await session.flush()
    after = snapshot(instance)
    after["resolved_alerts"] = resolved
    after["next_instance_id"] = str(following.id) if following else None
    await record(
        session,
        tenant_id=actor.tenant_id,
        action=action,
        entity_type="obligation_instance",
        entity_id=instance.id,
        before=before,
        after=after,
        user_id=actor.user_id,
    )
    return ActionResult(
        obligation=await view_of(session, actor, instance.id),
        next_obligation=await view_of(session, actor, following.id) if following else None,
        resolved_alerts=resolved,
    )


async def complete_obligation(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID, *, now: datetime | None = None
) -> ActionResult:
    """Mark done (keeping when and by whom); refused while required proof is missing."""
    moment = utc_now(now)
    instance, template = await locked_instance(session, actor, instance_id)
    if not policy.can_complete(actor, instance):
        refuse_closed(actor, instance)
    if template.proof_required:
        documents = await session.scalar(
            select(func.count()).where(ObligationDocument.obligation_instance_id == instance.id)
        )
        if not documents:
            raise ValidationError(ErrorCode.obligation_needs_proof, title=template.title)
    before = snapshot(instance)
    instance.status = ObligationStatus.completed
    instance.completed_at = moment
    instance.completed_by_user_id = actor.user_id
    return await _close(
        session, actor, instance, template, action="obligation.complete", before=before
    )


async def waivable(session: AsyncSession, actor: Actor, instance_id: uuid.UUID) -> ObligationView:
    """The obligation if the actor may waive it now (before asking them for a reason)."""
    instance, _ = await locked_instance(session, actor, instance_id)
    if not policy.can_waive(actor, instance):
        refuse_closed(actor, instance)
        raise PermissionDeniedError(ErrorCode.managers_only)
    return await view_of(session, actor, instance.id)


def clean_reason(reason: str) -> str:
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise ValidationError(ErrorCode.waive_reason_missing)
    if len(cleaned) > MAX_WAIVE_REASON:
        raise ValidationError(ErrorCode.waive_reason_too_long, limit=MAX_WAIVE_REASON)
    return cleaned


async def waive_obligation(
    session: AsyncSession,
    actor: Actor,
    instance_id: uuid.UUID,
    reason: str,
    *,
    now: datetime | None = None,
) -> ActionResult:
    """Excuse an open obligation (managers and admins), with the reason kept on the row."""
    cleaned = clean_reason(reason)
    moment = utc_now(now)
    instance, template = await locked_instance(session, actor, instance_id)
    if not policy.can_waive(actor, instance):
        refuse_closed(actor, instance)
        raise PermissionDeniedError(ErrorCode.managers_only)
    before = snapshot(instance)
    instance.status = ObligationStatus.waived
    instance.waived_at = moment
    instance.waived_by_user_id = actor.user_id
    instance.waive_reason = cleaned
    return await _close(
        session, actor, instance, template, action="obligation.waive", before=before
    )


async def reopen_obligation(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID
) -> ObligationView:
    """Undo a completion or waiver (managers and admins); the status follows the date again.

    Its reminders are looked at again on the clock's next run; levels already sent are not
    sent twice (their fingerprints are kept).
    """
    instance, _ = await locked_instance(session, actor, instance_id)
    if not policy.can_reopen(actor, instance):
        if instance.status.is_open:
            raise ConflictError(ErrorCode.obligation_open_already)
        raise PermissionDeniedError(ErrorCode.managers_only)
    before = snapshot(instance)
    instance.status = status_for(instance.due_at, actor.today)
    instance.completed_at = None
    instance.completed_by_user_id = None
    instance.waived_at = None
    instance.waived_by_user_id = None
    instance.waive_reason = None
    instance.next_reminder_on = actor.today
    await record_update(
        session,
        instance,
        before,
        tenant_id=actor.tenant_id,
        action="obligation.reopen",
        entity_type="obligation_instance",
        user_id=actor.user_id,
    )
    return await view_of(session, actor, instance.id)
