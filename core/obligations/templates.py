"""Obligation templates and shared jurisdictions: the rules instances are generated from."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from core.audit import add_recorded
from core.clock import utc_now
from core.db.enums import ObligationCategory, Severity
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, ValidationError
from core.i18n import N_
from core.obligations.generation import DEFAULT_HORIZON_MONTHS, generate_instances
from core.obligations.models import (
    DEFAULT_REMINDER_LEAD_DAYS,
    MAX_REMINDER_LEAD_DAYS,
    Jurisdiction,
    ObligationTemplate,
)
from core.obligations.recurrence import Recurrence
from core.obligations.schedule import tenant_today
from core.tenancy.models import Branch, Tenant


def normalise_lead_days(values: Sequence[int]) -> list[int]:
    leads = sorted(set(values), reverse=True)
    if any(lead < 0 or lead > MAX_REMINDER_LEAD_DAYS for lead in leads):
        raise ValidationError(ErrorCode.lead_days_out_of_range, limit=MAX_REMINDER_LEAD_DAYS)
    return leads


@dataclass(frozen=True)
class TemplateSpec:
    """What a new obligation template says (validated by `create_template`)."""

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


@dataclass(frozen=True)
class TemplateResult:
    template: ObligationTemplate
    instances_created: int


def clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValidationError(ErrorCode.text_empty, what=N_("title"))
    if len(cleaned) > 300:
        raise ValidationError(ErrorCode.text_too_long, what=N_("title"), limit=300)
    return cleaned


async def create_template(
    db: Database,
    tenant: Tenant,
    spec: TemplateSpec,
    *,
    created_by_user_id: int | None = None,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    now: datetime | None = None,
) -> TemplateResult:
    """Create a template and its instances for every applicable branch up to the horizon."""
    if spec.jurisdiction_id is not None and spec.branch_id is not None:
        raise ValidationError(ErrorCode.template_scope_ambiguous)
    template = ObligationTemplate(
        tenant_id=tenant.id,
        jurisdiction_id=spec.jurisdiction_id,
        branch_id=spec.branch_id,
        category=spec.category,
        title=clean_title(spec.title),
        recurrence_type=spec.recurrence.value,
        severity=spec.severity,
        proof_required=spec.proof_required,
        anchor_date=spec.anchor_date,
        reminder_lead_days=normalise_lead_days(spec.reminder_lead_days),
        description=(spec.description or "").strip() or None,
    )
    async with db.tenant_uow(tenant.id) as session:
        if spec.jurisdiction_id is not None and (
            await session.get(Jurisdiction, spec.jurisdiction_id) is None
        ):
            raise NotFoundError(ErrorCode.jurisdiction_not_found, value=str(spec.jurisdiction_id))
        if spec.branch_id is not None and await session.get(Branch, spec.branch_id) is None:
            raise NotFoundError(ErrorCode.branch_not_found, code=str(spec.branch_id))
        await add_recorded(
            session,
            template,
            tenant_id=tenant.id,
            action="obligation_template.create",
            entity_type="obligation_template",
            user_id=created_by_user_id,
        )
        today = await tenant_today(session, tenant.id, utc_now(now))
        created = await generate_instances(
            session,
            tenant_id=tenant.id,
            today=today,
            horizon_months=horizon_months,
            template_ids=[template.id],
            with_anchor=True,
        )
    return TemplateResult(template=template, instances_created=created)


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
