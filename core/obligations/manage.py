"""One-off obligations and changes to an instance (SPEC §6): add, change the due date, owner
or severity, delete; and the obligations a person owns.

Services take the caller's session and the acting `Actor` and never commit. Who may:
`policy.can_manage_branch` / `can_change` / `can_delete`: head office everywhere, branch
managers for their own branches, operators never; only open instances change (closed
ones are history). A due-date change and a deletion need a reason; every change's audit
row holds the instance before and after and the reason (`after["reason"]`).

A one-off is a template of recurrence `none` bound to its branch plus its one instance:
every instance belongs to a template, and generation makes a one-off's anchor instance
whenever it is missing. So a one-off's own template follows its instance (due date as
anchor, owner, severity) and goes when its instance is deleted; otherwise generation
would bring the old date back.

An owner is an active person whose scope covers the instance's branch
(`policy.may_own`, the rule generation applies in SQL).
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record, snapshot
from core.db.driver import DriverReads
from core.db.enums import BranchStatus, ObligationCategory, Severity
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.obligations import policy
from core.obligations.actions import (
    MAX_WAIVE_REASON,
    locked_instance,
    refuse_closed,
    resolve_reminders,
    view_of,
)
from core.obligations.models import (
    DEFAULT_REMINDER_LEAD_DAYS,
    ObligationDocument,
    ObligationInstance,
    ObligationSkip,
    ObligationTemplate,
)
from core.obligations.parsing import parse_instance_id
from core.obligations.queries import list_open_obligations
from core.obligations.recurrence import Recurrence, check_due_date
from core.obligations.schedule import first_reminder_on, status_for
from core.obligations.templates import checked_owner, clean_title, normalise_lead_days
from core.obligations.views import ObligationPage, ObligationView, Window
from core.tenancy.models import Branch
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

MIN_ID_PREFIX = 8
"""Hex digits an id may be shortened to on the command line (the first group of a UUID)."""
HEX = re.compile(r"^[0-9a-f]+$")
RESCHEDULED = "rescheduled"
"""How a changed due date closes the instance's open alerts (they were about the old one)."""


@dataclass(frozen=True)
class OneOffSpec:
    """A one-off obligation of one branch (validated by `add_obligation`)."""

    branch_code: str
    category: ObligationCategory
    title: str
    due: date
    severity: Severity = Severity.medium
    owner_user_id: int | None = None
    proof_required: bool = False
    description: str | None = None


class Unchanged(enum.Enum):
    """`InstanceChanges.owner` left as it is (None there means: no owner any more)."""

    kept = "unchanged"


UNCHANGED = Unchanged.kept


@dataclass(frozen=True)
class InstanceChanges:
    """What to change on an open instance; None (for the owner: `UNCHANGED`) keeps it."""

    due: date | None = None
    owner: int | Unchanged | None = UNCHANGED
    severity: Severity | None = None

    @property
    def empty(self) -> bool:
        return self.due is None and self.owner is UNCHANGED and self.severity is None


@dataclass(frozen=True)
class UpdateResult:
    obligation: ObligationView
    changed: bool
    """False when every value asked for was the instance's already (nothing is audited)."""
    resolved_alerts: int


@dataclass(frozen=True)
class DeleteResult:
    obligation: ObligationView
    """The instance as it was just before it was deleted."""
    resolved_alerts: int
    template_deleted: bool


def clean_reason(reason: str | None, *, required: bool) -> str | None:
    """The reason in one line; refused when `required` and empty, or too long."""
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        if required:
            raise ValidationError(ErrorCode.reason_missing)
        return None
    if len(cleaned) > MAX_WAIVE_REASON:
        raise ValidationError(ErrorCode.waive_reason_too_long, limit=MAX_WAIVE_REASON)
    return cleaned


async def _managed_branch(session: AsyncSession, actor: Actor, code: str) -> Branch:
    if not actor.manages:
        raise PermissionDeniedError(ErrorCode.managers_only)
    cleaned = normalise_branch_code(code)
    branch = await session.scalar(select(Branch).where(Branch.code == cleaned))
    if branch is None:
        raise NotFoundError(ErrorCode.branch_not_found, code=cleaned)
    if not policy.can_manage_branch(actor, branch.tenant_id, branch.id):
        raise NotFoundError(ErrorCode.branch_not_in_scope)
    if branch.status != BranchStatus.active.value:
        raise ValidationError(ErrorCode.branch_inactive, code=branch.code)
    return branch


async def add_obligation(session: AsyncSession, actor: Actor, spec: OneOffSpec) -> ObligationView:
    """A one-off obligation of one branch: its own template and its one instance, audited."""
    branch = await _managed_branch(session, actor, spec.branch_code)
    due = check_due_date(spec.due)
    title = clean_title(spec.title)
    owner = (
        await checked_owner(session, spec.owner_user_id, branch)
        if spec.owner_user_id is not None
        else None
    )
    lead_days = normalise_lead_days(DEFAULT_REMINDER_LEAD_DAYS)
    template = ObligationTemplate(
        tenant_id=actor.tenant_id,
        branch_id=branch.id,
        category=spec.category,
        title=title,
        recurrence_type=Recurrence.none.value,
        severity=spec.severity,
        proof_required=spec.proof_required,
        description=(spec.description or "").strip() or None,
        anchor_date=due,
        reminder_lead_days=lead_days,
        owner_user_id=owner,
    )
    await add_recorded(
        session,
        template,
        tenant_id=actor.tenant_id,
        action="obligation_template.create",
        entity_type="obligation_template",
        user_id=actor.user_id,
    )
    instance = ObligationInstance(
        tenant_id=actor.tenant_id,
        branch_id=branch.id,
        template_id=template.id,
        category=spec.category,
        title=title,
        severity=spec.severity,
        status=status_for(due, actor.today),
        due_at=due,
        series_date=due,
        next_reminder_on=first_reminder_on(due, lead_days),
        owner_user_id=owner,
    )
    await add_recorded(
        session,
        instance,
        tenant_id=actor.tenant_id,
        action="obligation.add",
        entity_type="obligation_instance",
        user_id=actor.user_id,
    )
    return await view_of(session, actor, instance.id)


async def _changeable(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID
) -> tuple[ObligationInstance, ObligationTemplate]:
    """The instance, locked, if the actor may change or delete it now; else refused."""
    instance, template = await locked_instance(session, actor, instance_id)
    if not policy.can_change(actor, instance):
        if not actor.manages:
            raise PermissionDeniedError(ErrorCode.managers_only)
        refuse_closed(actor, instance)
    return instance, template


async def _own_template(
    session: AsyncSession, instance: ObligationInstance, template: ObligationTemplate
) -> bool:
    """Whether `template` is this one-off's own: recurrence none, bound to the instance's
    branch, and no other instance (then it follows the instance)."""
    if (
        template.recurrence_type != Recurrence.none.value
        or template.branch_id != instance.branch_id
    ):
        return False
    others = await session.scalar(
        select(func.count()).where(
            ObligationInstance.template_id == template.id, ObligationInstance.id != instance.id
        )
    )
    return not others


async def _refuse_taken_date(
    session: AsyncSession, instance: ObligationInstance, due: date
) -> None:
    """One instance per template, branch and date: say so before the constraint would."""
    taken = await session.scalar(
        select(ObligationInstance.id).where(
            ObligationInstance.template_id == instance.template_id,
            ObligationInstance.branch_id == instance.branch_id,
            ObligationInstance.due_at == due,
            ObligationInstance.id != instance.id,
        )
    )
    if taken is not None:
        code = await session.scalar(select(Branch.code).where(Branch.id == instance.branch_id))
        raise ConflictError(
            ErrorCode.obligation_date_taken, code=code or "", title=instance.title, date=due
        )


async def update_obligation(
    session: AsyncSession,
    actor: Actor,
    instance_id: uuid.UUID,
    changes: InstanceChanges,
    reason: str | None = None,
) -> UpdateResult:
    """Change an open instance's due date (a reason required), owner or severity, audited.

    A new date sets the status it has today, when the clock next looks at its reminders
    (at once when a lead time is reached already), and closes the open alerts about the
    old date; reminders for the new date go out at its own lead times (fingerprints carry
    the due date). The instance keeps its series date, so generation does not bring the
    old date back.
    """
    if changes.empty:
        raise ValidationError(ErrorCode.obligation_unchanged)
    instance, template = await _changeable(session, actor, instance_id)
    due = check_due_date(changes.due) if changes.due is not None else instance.due_at
    moving = due != instance.due_at
    cleaned = clean_reason(reason, required=moving)
    owner = instance.owner_user_id
    if changes.owner is not UNCHANGED:
        owner = changes.owner
        if owner is not None and owner != instance.owner_user_id:
            branch = await session.get_one(Branch, instance.branch_id)
            owner = await checked_owner(session, owner, branch)
    severity = changes.severity or instance.severity
    if not moving and owner == instance.owner_user_id and severity is instance.severity:
        return UpdateResult(await view_of(session, actor, instance.id), False, 0)
    if moving:
        await _refuse_taken_date(session, instance, due)
    own_template = await _own_template(session, instance, template)
    before = snapshot(instance)
    resolved = 0
    if moving:
        instance.due_at = due
        instance.status = status_for(due, actor.today)
        instance.next_reminder_on = max(
            first_reminder_on(due, template.reminder_lead_days), actor.today
        )
        resolved = await resolve_reminders(session, instance, RESCHEDULED, actor.user_id)
    instance.owner_user_id = owner
    instance.severity = severity
    if own_template:
        template.owner_user_id = owner
        template.severity = severity
    await session.flush()
    after: dict[str, Any] = {**snapshot(instance), "reason": cleaned, "resolved_alerts": resolved}
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="obligation.update",
        entity_type="obligation_instance",
        entity_id=instance.id,
        before=before,
        after=after,
        user_id=actor.user_id,
    )
    return UpdateResult(await view_of(session, actor, instance.id), True, resolved)


async def delete_obligation(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID, reason: str | None
) -> DeleteResult:
    """Delete an open instance, with a reason: its open alerts are resolved as `deleted`,
    and a one-off's own template goes with it; an occurrence of a series is remembered as
    skipped (`ObligationSkip`) so that generation does not bring it back.

    One with proof files is refused: the files are evidence (SPEC §7) and deleting the
    row would drop their records; waiving keeps them with a reason. A proof upload still
    in flight for it (`PendingUpload`) goes with the row.
    """
    instance, template = await _changeable(session, actor, instance_id)
    cleaned = clean_reason(reason, required=True)
    documents = await session.scalar(
        select(func.count()).where(ObligationDocument.obligation_instance_id == instance.id)
    )
    if documents:
        raise ConflictError(ErrorCode.obligation_has_proof, title=instance.title)
    view = await view_of(session, actor, instance.id)
    own_template = await _own_template(session, instance, template)
    before = snapshot(instance)
    resolved = await resolve_reminders(session, instance, "deleted", actor.user_id)
    if not own_template:
        # Generation must not make this occurrence of the series again.
        session.add(
            ObligationSkip(
                tenant_id=actor.tenant_id,
                template_id=instance.template_id,
                branch_id=instance.branch_id,
                series_date=instance.series_date,
            )
        )
    await session.delete(instance)
    await session.flush()
    if own_template:
        template_before = snapshot(template)
        await session.delete(template)
        await session.flush()
        await record(
            session,
            tenant_id=actor.tenant_id,
            action="obligation_template.delete",
            entity_type="obligation_template",
            entity_id=template.id,
            before=template_before,
            after={"reason": cleaned},
            user_id=actor.user_id,
        )
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="obligation.delete",
        entity_type="obligation_instance",
        entity_id=view.id,
        before=before,
        after={"reason": cleaned, "resolved_alerts": resolved, "template_deleted": own_template},
        user_id=actor.user_id,
    )
    return DeleteResult(obligation=view, resolved_alerts=resolved, template_deleted=own_template)


async def list_my_obligations(
    session: AsyncSession | DriverReads, actor: Actor, page: int = 0, page_size: int = 10
) -> ObligationPage:
    """The open obligations the acting person owns, in their scope, overdue first then by
    due date (`/obligations mine`)."""
    return await list_open_obligations(
        session, actor, window=Window.mine, page=page, page_size=page_size
    )


async def find_obligation(session: AsyncSession, reference: str) -> uuid.UUID:
    """The command line's ID: a whole instance id, or the start of one (at least
    `MIN_ID_PREFIX` hex digits, dashes ignored) that only one instance of the tenant has."""
    cleaned = reference.strip().lower()
    compact = cleaned.replace("-", "")
    if len(compact) == 32 or not (HEX.fullmatch(compact) and len(compact) >= MIN_ID_PREFIX):
        return parse_instance_id(cleaned)
    digits = func.replace(cast(ObligationInstance.id, String), "-", "")
    found = list(
        await session.scalars(
            select(ObligationInstance.id).where(digits.startswith(compact)).limit(2)
        )
    )
    if not found:
        raise NotFoundError(ErrorCode.obligation_not_found)
    if len(found) > 1:
        raise ValidationError(ErrorCode.obligation_id_ambiguous, value=reference.strip())
    return found[0]
