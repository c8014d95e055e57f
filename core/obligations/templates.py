"""Obligation templates: the rules instances are generated from (SPEC §6).

Head office creates, lists, changes, deactivates and re-activates them (`policy.
can_manage_templates`); every service takes the caller's session and the `Actor` and never
commits. A template applies to every branch, to the branches of a jurisdiction, or to one
branch; creating one generates its instances for each applicable branch up to the horizon,
the anchor's own instance included even when it lies in the past (the person asked for it).

Changing a template changes its *future open* instances only: those not yet due before the
tenant's today take the new title, category, severity and owner, and a new reminder cadence
reschedules them. A new recurrence, anchor or scope deletes the future open instances that
no longer fall on the series or its branches (never one that has proof attached: evidence
is not thrown away) and generates the ones that are missing. Closed and past instances
keep their own words: each instance has its own title and severity columns.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record, snapshot
from core.db.enums import (
    CLOSED_ALERT,
    OPEN_OBLIGATION,
    ObligationCategory,
    Severity,
    UserStatus,
)
from core.db.session import Database
from core.errors import (
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.i18n import N_
from core.notify.events import resolve_events
from core.notify.models import NotificationEvent
from core.obligations import policy
from core.obligations.clock import reminder_fingerprint_prefixes
from core.obligations.generation import (
    DEFAULT_HORIZON_MONTHS,
    OWNER_IN_SCOPE,
    generate_instances,
    horizon_end,
)
from core.obligations.jurisdiction import covers_sql
from core.obligations.models import (
    DEFAULT_REMINDER_LEAD_DAYS,
    MAX_GRACE_DAYS,
    MAX_REMINDER_LEAD_DAYS,
    Jurisdiction,
    ObligationDocument,
    ObligationInstance,
    ObligationTemplate,
)
from core.obligations.recurrence import Recurrence, check_due_date, occurrences_between
from core.obligations.schedule import ONE_DAY, next_reminder_on
from core.tenancy.models import Branch, User, UserBranch
from core.tenancy.names import user_name
from core.tenancy.scope import Actor

MAX_TITLE = 300
MAX_DESCRIPTION = 2000
TEMPLATE_ID_PREFIX = re.compile(r"^[0-9a-f]{6,32}$")
ACTIVE = "active"
INACTIVE = "inactive"


def normalise_lead_days(values: Sequence[int]) -> list[int]:
    """Reminder lead days as stored: distinct, most days first, each 0..366."""
    leads = sorted(set(values), reverse=True)
    if any(lead < 0 or lead > MAX_REMINDER_LEAD_DAYS for lead in leads):
        raise ValidationError(ErrorCode.lead_days_out_of_range, limit=MAX_REMINDER_LEAD_DAYS)
    return leads


def parse_lead_days(value: str) -> list[int]:
    """Lead days as people type them: `30,14,7,3,1,0` (spaces allowed), checked."""
    parts = [part.strip() for part in value.split(",")]
    if not all(part.isascii() and part.isdigit() and len(part) <= 4 for part in parts):
        raise ValidationError(ErrorCode.lead_days_invalid, value=value.strip())
    return check_lead_days([int(part) for part in parts])


def check_lead_days(values: Sequence[int]) -> list[int]:
    """`normalise_lead_days` for a template a person sets: at least one lead is needed (an
    empty cadence would remind nobody before the due date)."""
    if not values:
        raise ValidationError(ErrorCode.lead_days_empty)
    return normalise_lead_days(values)


def check_grace_days(days: int) -> int:
    if not 0 <= days <= MAX_GRACE_DAYS:
        raise ValidationError(ErrorCode.grace_days_out_of_range, limit=MAX_GRACE_DAYS)
    return days


def clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValidationError(ErrorCode.text_empty, what=N_("title"))
    if len(cleaned) > MAX_TITLE:
        raise ValidationError(ErrorCode.text_too_long, what=N_("title"), limit=MAX_TITLE)
    return cleaned


def clean_description(description: str | None) -> str | None:
    cleaned = (description or "").strip()
    if len(cleaned) > MAX_DESCRIPTION:
        raise ValidationError(
            ErrorCode.text_too_long, what=N_("description"), limit=MAX_DESCRIPTION
        )
    return cleaned or None


@dataclass(frozen=True)
class TemplateSpec:
    """What a new obligation template says (validated by `create_template`).

    Where it applies: `branch_id` for one branch, `jurisdiction_id` for the branches of a
    jurisdiction, neither for every branch of the tenant.
    """

    category: ObligationCategory
    title: str
    recurrence: Recurrence
    severity: Severity
    anchor_date: date
    proof_required: bool = False
    reminder_lead_days: tuple[int, ...] = DEFAULT_REMINDER_LEAD_DAYS
    jurisdiction_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = None
    description: str | None = None
    grace_days: int = 0
    owner_user_id: int | None = None
    catalogue_key: str | None = None


@dataclass(frozen=True)
class TemplateScope:
    """Where a template applies: one branch, a jurisdiction's branches, or (neither) all."""

    jurisdiction_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TemplateChanges:
    """What `update_template` changes; None leaves a field as it is.

    `description=""` clears the description, `clear_owner` the owner; `scope` replaces
    where the template applies (`TemplateScope()`: every branch).
    """

    category: ObligationCategory | None = None
    title: str | None = None
    description: str | None = None
    recurrence: Recurrence | None = None
    anchor_date: date | None = None
    severity: Severity | None = None
    reminder_lead_days: tuple[int, ...] | None = None
    grace_days: int | None = None
    proof_required: bool | None = None
    owner_user_id: int | None = None
    clear_owner: bool = False
    scope: TemplateScope | None = None


@dataclass(frozen=True)
class TemplateView:
    """A template as every surface shows it, with where it applies and its open instances."""

    id: uuid.UUID
    category: ObligationCategory
    title: str
    description: str | None
    recurrence: Recurrence
    anchor_date: date | None
    severity: Severity
    reminder_lead_days: tuple[int, ...]
    grace_days: int
    proof_required: bool
    status: str
    owner_user_id: int | None
    owner_name: str | None
    jurisdiction_id: uuid.UUID | None
    jurisdiction_label: str | None
    jurisdiction_label_bn: str | None
    branch_id: uuid.UUID | None
    branch_code: str | None
    catalogue_key: str | None
    open_instances: int
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def applies_to(self) -> str:
        """`branch`, `jurisdiction` or `all`."""
        if self.branch_id is not None:
            return "branch"
        if self.jurisdiction_id is not None:
            return "jurisdiction"
        return "all"

    def jurisdiction_name(self, language: str | None) -> str | None:
        """The jurisdiction's label in `language` (Bengali when there is one)."""
        if language == "bn" and self.jurisdiction_label_bn:
            return self.jurisdiction_label_bn
        return self.jurisdiction_label

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "category": self.category.value,
            "title": self.title,
            "description": self.description,
            "recurrence": str(self.recurrence),
            "anchor_date": self.anchor_date.isoformat() if self.anchor_date else None,
            "severity": self.severity.value,
            "lead_days": list(self.reminder_lead_days),
            "grace_days": self.grace_days,
            "proof_required": self.proof_required,
            "status": self.status,
            "owner": {"id": self.owner_user_id, "name": self.owner_name}
            if self.owner_user_id is not None
            else None,
            "applies_to": self.applies_to,
            "jurisdiction": {"id": str(self.jurisdiction_id), "label": self.jurisdiction_label}
            if self.jurisdiction_id is not None
            else None,
            "branch": self.branch_code,
            "catalogue_key": self.catalogue_key,
            "open_instances": self.open_instances,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class TemplateResult:
    """A template just created, and how many instances it generated."""

    template: ObligationTemplate
    instances_created: int
    view: TemplateView | None = None


@dataclass(frozen=True)
class UpdateResult:
    """A template after `update_template`, and what happened to its future open instances."""

    template: TemplateView
    changed: bool
    instances_updated: int = 0
    instances_removed: int = 0
    instances_kept_with_proof: int = 0
    instances_created: int = 0
    resolved_alerts: int = 0
    changed_fields: tuple[str, ...] = field(default_factory=tuple)


def refuse_unless_admin(actor: Actor) -> None:
    if not policy.can_manage_templates(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)


async def _checked_scope(session: AsyncSession, scope: TemplateScope) -> Branch | None:
    """The scope's jurisdiction and branch exist (the branch returned, when there is one)."""
    if scope.jurisdiction_id is not None and scope.branch_id is not None:
        raise ValidationError(ErrorCode.template_scope_ambiguous)
    if scope.jurisdiction_id is not None and (
        await session.get(Jurisdiction, scope.jurisdiction_id) is None
    ):
        raise NotFoundError(ErrorCode.jurisdiction_not_found, value=str(scope.jurisdiction_id))
    if scope.branch_id is None:
        return None
    branch = await session.get(Branch, scope.branch_id)
    if branch is None:
        raise NotFoundError(ErrorCode.branch_not_found, code=str(scope.branch_id))
    return branch


async def checked_owner(session: AsyncSession, owner_user_id: int, branch: Branch | None) -> int:
    """The owner's id if they are an active user of the tenant and, for one branch's work,
    may own that branch's obligations (`policy.may_own`: head office, or of that branch);
    else a refusal naming them. Templates and one-off obligations both ask this."""
    owner = await session.get(User, owner_user_id)
    if owner is None:
        raise NotFoundError(ErrorCode.user_not_found, value=str(owner_user_id))
    if owner.status != UserStatus.active.value:
        raise ValidationError(ErrorCode.owner_inactive, name=user_name(owner))
    if branch is None:
        return owner.id
    linked = await session.scalars(
        select(UserBranch.branch_id).where(UserBranch.user_id == owner.id)
    )
    if not policy.may_own(owner.role, list(linked), branch.id):
        raise ValidationError(ErrorCode.owner_not_in_scope, name=user_name(owner), code=branch.code)
    return owner.id


async def create_template(
    session: AsyncSession,
    actor: Actor,
    spec: TemplateSpec,
    *,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
) -> TemplateResult:
    """Create a template and its instances for every applicable branch up to the horizon."""
    refuse_unless_admin(actor)
    scope = TemplateScope(jurisdiction_id=spec.jurisdiction_id, branch_id=spec.branch_id)
    template = ObligationTemplate(
        tenant_id=actor.tenant_id,
        jurisdiction_id=spec.jurisdiction_id,
        branch_id=spec.branch_id,
        category=spec.category,
        title=clean_title(spec.title),
        recurrence_type=spec.recurrence.value,
        severity=spec.severity,
        proof_required=spec.proof_required,
        anchor_date=check_due_date(spec.anchor_date),
        reminder_lead_days=check_lead_days(spec.reminder_lead_days),
        description=clean_description(spec.description),
        grace_days=check_grace_days(spec.grace_days),
        owner_user_id=spec.owner_user_id,
        catalogue_key=spec.catalogue_key,
        status=ACTIVE,
    )
    branch = await _checked_scope(session, scope)
    if spec.owner_user_id is not None:
        await checked_owner(session, spec.owner_user_id, branch)
    await add_recorded(
        session,
        template,
        tenant_id=actor.tenant_id,
        action="obligation_template.create",
        entity_type="obligation_template",
        user_id=actor.user_id,
    )
    created = await generate_instances(
        session,
        tenant_id=actor.tenant_id,
        today=actor.today,
        horizon_months=horizon_months,
        template_ids=[template.id],
        with_anchor=True,
    )
    return TemplateResult(
        template=template,
        instances_created=created,
        view=await template_view(session, template.id),
    )


def _open_count() -> Any:
    return (
        select(func.count())
        .where(
            ObligationInstance.template_id == ObligationTemplate.id,
            ObligationInstance.status.in_(OPEN_OBLIGATION),
        )
        .scalar_subquery()
    )


def _views_query() -> Any:
    return (
        select(
            ObligationTemplate,
            Jurisdiction.label.label("jurisdiction_label"),
            Jurisdiction.label_bn.label("jurisdiction_label_bn"),
            Branch.code.label("branch_code"),
            User,
            _open_count().label("open_instances"),
        )
        .outerjoin(Jurisdiction, Jurisdiction.id == ObligationTemplate.jurisdiction_id)
        .outerjoin(Branch, Branch.id == ObligationTemplate.branch_id)
        .outerjoin(User, User.id == ObligationTemplate.owner_user_id)
    )


def _view(row: Any) -> TemplateView:
    template: ObligationTemplate = row.ObligationTemplate
    owner: User | None = row.User
    return TemplateView(
        id=template.id,
        category=template.category,
        title=template.title,
        description=template.description,
        recurrence=Recurrence(template.recurrence_type),
        anchor_date=template.anchor_date,
        severity=template.severity,
        reminder_lead_days=tuple(template.reminder_lead_days),
        grace_days=template.grace_days,
        proof_required=template.proof_required,
        status=template.status,
        owner_user_id=template.owner_user_id,
        owner_name=user_name(owner) if owner is not None else None,
        jurisdiction_id=template.jurisdiction_id,
        jurisdiction_label=row.jurisdiction_label,
        jurisdiction_label_bn=row.jurisdiction_label_bn,
        branch_id=template.branch_id,
        branch_code=row.branch_code,
        catalogue_key=template.catalogue_key,
        open_instances=int(row.open_instances or 0),
        created_at=template.created_at,
    )


async def template_view(session: AsyncSession, template_id: uuid.UUID) -> TemplateView:
    row = (
        await session.execute(
            _views_query()
            .where(ObligationTemplate.id == template_id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFoundError(ErrorCode.template_not_found, value=str(template_id))
    return _view(row)


async def list_templates(
    session: AsyncSession, actor: Actor, *, include_inactive: bool = False
) -> list[TemplateView]:
    """The tenant's templates: active first, then by category and title."""
    refuse_unless_admin(actor)
    query = _views_query().order_by(
        (ObligationTemplate.status == ACTIVE).desc(),
        ObligationTemplate.category,
        func.lower(ObligationTemplate.title),
        ObligationTemplate.id,
    )
    if not include_inactive:
        query = query.where(ObligationTemplate.status == ACTIVE)
    return [_view(row) for row in await session.execute(query)]


async def template_details(
    session: AsyncSession, actor: Actor, template_id: uuid.UUID
) -> TemplateView:
    refuse_unless_admin(actor)
    return await template_view(session, template_id)


async def find_template(session: AsyncSession, actor: Actor, reference: str) -> uuid.UUID:
    """A template by its id, or by the first characters of it (at least six, as `template
    list` shows them); an unknown or ambiguous reference is not found."""
    refuse_unless_admin(actor)
    cleaned = reference.strip().lower().replace("-", "")
    if not TEMPLATE_ID_PREFIX.fullmatch(cleaned):
        raise NotFoundError(ErrorCode.template_not_found, value=reference.strip())
    found = list(
        await session.scalars(
            select(ObligationTemplate.id)
            .where(func.replace(cast(ObligationTemplate.id, String), "-", "").startswith(cleaned))
            .limit(2)
        )
    )
    if len(found) != 1:
        raise NotFoundError(ErrorCode.template_not_found, value=reference.strip())
    return found[0]


async def _locked(session: AsyncSession, template_id: uuid.UUID) -> ObligationTemplate:
    template = await session.get(
        ObligationTemplate, template_id, with_for_update=True, populate_existing=True
    )
    if template is None:
        raise NotFoundError(ErrorCode.template_not_found, value=str(template_id))
    return template


def _future_open(template_id: uuid.UUID, today: date) -> Any:
    """The instances an edit reaches: open and not yet due before the tenant's today."""
    return and_(
        ObligationInstance.template_id == template_id,
        ObligationInstance.status.in_(OPEN_OBLIGATION),
        ObligationInstance.due_at >= today,
    )


def _applied(template: ObligationTemplate, changes: TemplateChanges) -> list[str]:
    """Write the changes onto the locked row, validated; the names of the fields that moved."""
    wanted: dict[str, Any] = {}
    if changes.category is not None:
        wanted["category"] = changes.category
    if changes.title is not None:
        wanted["title"] = clean_title(changes.title)
    if changes.description is not None:
        wanted["description"] = clean_description(changes.description)
    if changes.recurrence is not None:
        wanted["recurrence_type"] = changes.recurrence.value
    if changes.anchor_date is not None:
        wanted["anchor_date"] = check_due_date(changes.anchor_date)
    if changes.severity is not None:
        wanted["severity"] = changes.severity
    if changes.reminder_lead_days is not None:
        wanted["reminder_lead_days"] = check_lead_days(changes.reminder_lead_days)
    if changes.grace_days is not None:
        wanted["grace_days"] = check_grace_days(changes.grace_days)
    if changes.proof_required is not None:
        wanted["proof_required"] = changes.proof_required
    if changes.clear_owner:
        wanted["owner_user_id"] = None
    elif changes.owner_user_id is not None:
        wanted["owner_user_id"] = changes.owner_user_id
    if changes.scope is not None:
        wanted["jurisdiction_id"] = changes.scope.jurisdiction_id
        wanted["branch_id"] = changes.scope.branch_id
    moved = []
    for name, value in wanted.items():
        current = getattr(template, name)
        if name == "reminder_lead_days":
            current = list(current)
        if current != value:
            setattr(template, name, value)
            moved.append(name)
    return moved


_OWNER_UPDATE = text(
    """
    UPDATE obligation_instances AS i
    SET owner_user_id = CASE WHEN CAST(:owner AS integer) IS NOT NULL AND {in_scope}
                             THEN CAST(:owner AS integer) END
    FROM branches AS b
    WHERE b.id = i.branch_id AND i.template_id = :template_id AND i.due_at >= :today
      AND i.status IN ('upcoming', 'due_today', 'overdue')
      AND (i.owner_user_id IS NULL OR i.owner_user_id = CAST(:previous AS integer))
    """.format(in_scope=OWNER_IN_SCOPE.format(owner="CAST(:owner AS integer)"))
)
"""The template's owner passes to its future open instances in the owner's scope; an
instance someone gave another owner of its own keeps them."""


async def _reschedule(session: AsyncSession, template: ObligationTemplate, today: date) -> int:
    """Each future open instance's next reminder date under the template's cadence now.

    Counted from yesterday, so a level that falls today is still sent today (a level sent
    already is not sent twice: each has its fingerprint)."""
    rows = (
        await session.execute(
            select(ObligationInstance.id, ObligationInstance.due_at).where(
                _future_open(template.id, today)
            )
        )
    ).all()
    moves = [
        {
            "id": row.id,
            "next_reminder_on": next_reminder_on(
                row.due_at,
                template.reminder_lead_days,
                today - ONE_DAY,
                grace_days=template.grace_days,
            ),
        }
        for row in rows
    ]
    if moves:
        await session.execute(update(ObligationInstance), moves)
    return len(moves)


async def _covered_branches(session: AsyncSession, template_id: uuid.UUID) -> list[uuid.UUID]:
    """The tenant's branches (active or not) the template applies to as it now says."""
    statement = text(
        f"""
        SELECT b.id FROM obligation_templates AS t
        JOIN branches AS b ON b.tenant_id = t.tenant_id
        LEFT JOIN jurisdictions AS j ON j.id = t.jurisdiction_id
        WHERE t.id = :template_id AND {covers_sql("t", "b", "j")}
        """
    )
    return list(await session.scalars(statement, {"template_id": template_id}))


async def _resolve_alerts(
    session: AsyncSession, tenant_id: uuid.UUID, instance_ids: list[uuid.UUID], by: int | None
) -> int:
    """Close the open alerts of deleted instances (their copies say "deleted by …").

    Reminder fingerprints carry the instance id second (`obligation_due:<id>:<lead>`,
    `obligation_overdue:<id>`), so one query finds which of the instances have any open."""
    if not instance_ids:
        return 0
    named = func.split_part(NotificationEvent.fingerprint, ":", 2)
    alerted = await session.scalars(
        select(named)
        .where(
            NotificationEvent.tenant_id == tenant_id,
            NotificationEvent.status.not_in(CLOSED_ALERT),
            or_(
                NotificationEvent.fingerprint.startswith("obligation_due:"),
                NotificationEvent.fingerprint.startswith("obligation_overdue:"),
            ),
            named.in_([str(instance_id) for instance_id in instance_ids]),
        )
        .distinct()
    )
    resolved = 0
    for instance_id in alerted:
        resolved += await resolve_events(
            session,
            tenant_id=tenant_id,
            fingerprint_prefix=reminder_fingerprint_prefixes(uuid.UUID(instance_id)),
            resolution="deleted",
            by_user_id=by,
        )
    return resolved


@dataclass(frozen=True)
class _Refit:
    removed: list[uuid.UUID]
    kept_with_proof: int
    resolved_alerts: int


async def _refit(
    session: AsyncSession,
    actor: Actor,
    template: ObligationTemplate,
    horizon_months: int,
) -> _Refit:
    """Delete the future open instances that no longer fall on the series or its branches
    (those with proof stay), and close their alerts. An instance is judged by the occurrence
    it stands for (`series_date`): one whose due date someone moved still fits its series."""
    today = actor.today
    earliest, latest = (
        await session.execute(
            select(
                func.min(ObligationInstance.series_date), func.max(ObligationInstance.series_date)
            ).where(_future_open(template.id, today))
        )
    ).one()
    if earliest is None:
        return _Refit([], 0, 0)
    anchor = template.anchor_date
    assert anchor is not None
    recurrence = Recurrence(template.recurrence_type)
    dues = (
        [anchor]
        if not recurrence.recurring
        else occurrences_between(
            anchor,
            recurrence,
            min(earliest, today),
            max(latest, horizon_end(today, horizon_months)),
        )
    )
    branches = await _covered_branches(session, template.id)
    fits = and_(
        ObligationInstance.branch_id.in_(branches), ObligationInstance.series_date.in_(dues)
    )
    misfit = and_(_future_open(template.id, today), ~fits if branches and dues else literal(True))
    has_proof = exists().where(ObligationDocument.obligation_instance_id == ObligationInstance.id)
    kept = int(await session.scalar(select(func.count()).where(misfit, has_proof)) or 0)
    removed = list(
        await session.scalars(
            delete(ObligationInstance)
            .where(misfit, ~has_proof)
            .returning(ObligationInstance.id)
            .execution_options(synchronize_session=False)
        )
    )
    resolved = await _resolve_alerts(session, actor.tenant_id, removed, actor.user_id)
    return _Refit(removed, kept, resolved)


WORD_FIELDS = ("title", "category", "severity")
SERIES_FIELDS = ("recurrence_type", "anchor_date", "jurisdiction_id", "branch_id")
CADENCE_FIELDS = ("reminder_lead_days", "grace_days")


async def update_template(
    session: AsyncSession,
    actor: Actor,
    template_id: uuid.UUID,
    changes: TemplateChanges,
    *,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
) -> UpdateResult:
    """Change a template and its future open instances (see the module's docstring)."""
    refuse_unless_admin(actor)
    template = await _locked(session, template_id)
    before = snapshot(template)
    previous_owner = template.owner_user_id
    moved = _applied(template, changes)
    if not moved:
        return UpdateResult(template=await template_view(session, template.id), changed=False)
    branch = await _checked_scope(
        session,
        TemplateScope(jurisdiction_id=template.jurisdiction_id, branch_id=template.branch_id),
    )
    if template.owner_user_id is not None and ("owner_user_id" in moved or "branch_id" in moved):
        await checked_owner(session, template.owner_user_id, branch)
    await session.flush()
    today = actor.today
    updated: set[uuid.UUID] = set()
    words = {name: getattr(template, name) for name in WORD_FIELDS if name in moved}
    if words:
        updated.update(
            await session.scalars(
                update(ObligationInstance)
                .where(_future_open(template.id, today))
                .values(**words)
                .returning(ObligationInstance.id)
                .execution_options(synchronize_session=False)
            )
        )
    if "owner_user_id" in moved:
        await session.execute(
            _OWNER_UPDATE,
            {
                "owner": template.owner_user_id,
                "previous": previous_owner,
                "template_id": template.id,
                "today": today,
            },
        )
    refit = _Refit([], 0, 0)
    created = 0
    if any(name in moved for name in SERIES_FIELDS):
        refit = await _refit(session, actor, template, horizon_months)
        if template.status == ACTIVE:
            created = await generate_instances(
                session,
                tenant_id=actor.tenant_id,
                today=today,
                horizon_months=horizon_months,
                template_ids=[template.id],
            )
    if any(name in moved for name in CADENCE_FIELDS):
        await _reschedule(session, template, today)
    after = snapshot(template)
    after["future_open_instances"] = {
        "updated": len(updated),
        "removed": [str(instance_id) for instance_id in refit.removed],
        "kept_with_proof": refit.kept_with_proof,
        "created": created,
        "resolved_alerts": refit.resolved_alerts,
    }
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="obligation_template.update",
        entity_type="obligation_template",
        entity_id=template.id,
        before=before,
        after=after,
        user_id=actor.user_id,
    )
    return UpdateResult(
        template=await template_view(session, template.id),
        changed=True,
        instances_updated=len(updated),
        instances_removed=len(refit.removed),
        instances_kept_with_proof=refit.kept_with_proof,
        instances_created=created,
        resolved_alerts=refit.resolved_alerts,
        changed_fields=tuple(moved),
    )


async def set_template_active(
    session: AsyncSession,
    actor: Actor,
    template_id: uuid.UUID,
    active: bool,
    *,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
) -> tuple[TemplateView, bool]:
    """Deactivate (no more instances are generated; those that exist stay, history and open
    ones alike) or re-activate (generation resumes at once, from today). Returns the
    template and whether anything changed."""
    refuse_unless_admin(actor)
    template = await _locked(session, template_id)
    wanted = ACTIVE if active else INACTIVE
    if template.status == wanted:
        return await template_view(session, template.id), False
    before = snapshot(template)
    template.status = wanted
    await session.flush()
    created = 0
    if active:
        created = await generate_instances(
            session,
            tenant_id=actor.tenant_id,
            today=actor.today,
            horizon_months=horizon_months,
            template_ids=[template.id],
        )
    after = snapshot(template)
    after["instances_created"] = created
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="obligation_template.activate" if active else "obligation_template.deactivate",
        entity_type="obligation_template",
        entity_id=template.id,
        before=before,
        after=after,
        user_id=actor.user_id,
    )
    return await template_view(session, template.id), True


async def create_jurisdiction(
    db: Database,
    *,
    country_code: str,
    label: str,
    region: str | None = None,
    district: str | None = None,
    city_corporation: str | None = None,
) -> Jurisdiction:
    """Add shared reference data (the system path: request roles may only read it)."""
    code = country_code.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValidationError(ErrorCode.country_code_invalid, value=country_code)
    jurisdiction = Jurisdiction(
        country_code=code,
        label=label.strip() or code,
        region=(region or "").strip() or None,
        district=(district or "").strip() or None,
        city_corporation=(city_corporation or "").strip() or None,
    )
    async with db.system_uow() as session:
        session.add(jurisdiction)
        await session.flush()
    return jurisdiction
