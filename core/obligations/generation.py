"""Creating instances from templates: per applicable branch, a horizon ahead, never twice.

The unique constraint on (template, branch, due date) is what makes generation safe to
repeat and to run from several replicas at once: rows are inserted with ON CONFLICT DO
NOTHING, so a second run, or a concurrent one, adds nothing that exists.

Which due dates: the occurrences from today to the horizon. Past occurrences are not
invented: a series whose anchor lies in the past gets its anchor instance when the
template is created (the person asked for that date) and its future ones from then on,
rather than a backlog of overdue items nobody asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.clock import utc_now
from core.db.enums import BranchStatus
from core.db.session import Database
from core.obligations.jurisdiction import applicable_branches
from core.obligations.models import Jurisdiction, ObligationInstance, ObligationTemplate
from core.obligations.recurrence import Recurrence, first_occurrence_after, occurrences_between
from core.obligations.schedule import first_reminder_on, status_for, tenant_today
from core.tenancy.models import Branch, Tenant

DEFAULT_HORIZON_MONTHS = 12
INSERT_CHUNK = 4000
UNIQUE_DUE = "uq_obligation_instances_template_id_branch_id_due_at"


def horizon_end(today: date, horizon_months: int) -> date:
    return today + relativedelta(months=horizon_months)


def instance_row(
    template: ObligationTemplate, branch_id: uuid.UUID, due_at: date, today: date
) -> dict[str, Any]:
    return {
        "tenant_id": template.tenant_id,
        "branch_id": branch_id,
        "template_id": template.id,
        "category": template.category,
        "status": status_for(due_at, today),
        "due_at": due_at,
        "next_reminder_on": first_reminder_on(due_at, template.reminder_lead_days),
    }


async def insert_instances(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping any (template, branch, due date) that exists; returns how many new."""
    created = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        statement = (
            insert(ObligationInstance)
            .values(list(chunk))
            .on_conflict_do_nothing(constraint=UNIQUE_DUE)
            .returning(ObligationInstance.id)
        )
        created += len((await session.execute(statement)).all())
    return created


def due_dates(
    template: ObligationTemplate, today: date, end: date, *, with_anchor: bool
) -> list[date]:
    """The due dates of `template` to generate in [today, end], plus its anchor if asked."""
    if template.anchor_date is None:
        return []
    recurrence = Recurrence(template.recurrence_type)
    dates = occurrences_between(template.anchor_date, recurrence, today, end)
    if with_anchor and template.anchor_date <= end and template.anchor_date not in dates:
        dates.insert(0, template.anchor_date)
    return dates


async def generate_instances(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    today: date,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    template_ids: Iterable[uuid.UUID] | None = None,
    with_anchor: bool = False,
) -> int:
    """Generate the tenant's instances up to the horizon (all templates, or those named)."""
    templates_query = select(ObligationTemplate).where(
        ObligationTemplate.tenant_id == tenant_id, ObligationTemplate.anchor_date.is_not(None)
    )
    if template_ids is not None:
        templates_query = templates_query.where(ObligationTemplate.id.in_(list(template_ids)))
    templates = list(await session.scalars(templates_query))
    if not templates:
        return 0
    branches = list(
        await session.scalars(
            select(Branch).where(
                Branch.tenant_id == tenant_id, Branch.status == BranchStatus.active.value
            )
        )
    )
    jurisdiction_ids = {t.jurisdiction_id for t in templates if t.jurisdiction_id is not None}
    jurisdictions = {
        j.id: j
        for j in await session.scalars(
            select(Jurisdiction).where(Jurisdiction.id.in_(jurisdiction_ids))
        )
    }
    end = horizon_end(today, horizon_months)
    rows: list[dict[str, Any]] = []
    for template in templates:
        dates = due_dates(template, today, end, with_anchor=with_anchor)
        if not dates:
            continue
        targets = applicable_branches(
            branches,
            branch_id=template.branch_id,
            jurisdiction=jurisdictions.get(template.jurisdiction_id)
            if template.jurisdiction_id
            else None,
        )
        rows.extend(
            instance_row(template, branch.id, due_at, today)
            for branch in targets
            for due_at in dates
        )
    return await insert_instances(session, rows)


async def continue_series(
    session: AsyncSession, instance: ObligationInstance, template: ObligationTemplate, today: date
) -> ObligationInstance | None:
    """Make sure a recurring series has its next instance after `instance` (not in the past).

    The next due date is the first occurrence after this one that is not before today, so
    closing an old item late does not fabricate a backlog; generation has usually created
    it already, and then that existing row is returned. A deactivated branch gets no next
    instance.
    """
    if template.anchor_date is None or template.recurrence_type == Recurrence.none.value:
        return None
    branch_status = await session.scalar(
        select(Branch.status).where(Branch.id == instance.branch_id)
    )
    if branch_status != BranchStatus.active.value:
        return None
    recurrence = Recurrence(template.recurrence_type)
    after = max(instance.due_at, today - relativedelta(days=1))
    next_due = first_occurrence_after(template.anchor_date, recurrence, after)
    if next_due is None:
        return None
    await insert_instances(session, [instance_row(template, instance.branch_id, next_due, today)])
    return await session.scalar(
        select(ObligationInstance).where(
            ObligationInstance.template_id == template.id,
            ObligationInstance.branch_id == instance.branch_id,
            ObligationInstance.due_at == next_due,
        )
    )


@dataclass
class GenerationReport:
    """What one run of the generation job did."""

    tenants: int = 0
    created: int = 0
    skipped_tenants: int = 0
    per_tenant: dict[uuid.UUID, int] = field(default_factory=dict)


async def run_obligation_generation(
    db: Database, *, now: datetime | None = None, horizon_months: int = DEFAULT_HORIZON_MONTHS
) -> GenerationReport:
    """The scheduler job: extend every tenant's instances to the horizon.

    Each tenant is done in its own tenant-scoped transaction, guarded by a per-tenant
    advisory lock so replicas ticking together do not both do the work (were they to,
    the unique constraint would still keep the result right).
    """
    moment = utc_now(now)
    report = GenerationReport()
    async with db.system_uow() as session:
        tenant_ids = list(await session.scalars(select(Tenant.id).where(Tenant.status == "active")))
    for tenant_id in tenant_ids:
        async with db.tenant_uow(tenant_id) as session:
            lock = func.pg_try_advisory_xact_lock(
                func.hashtextextended(f"intrex:obligation_generation:{tenant_id}", 0)
            )
            if not await session.scalar(select(lock)):
                report.skipped_tenants += 1
                continue
            today = await tenant_today(session, tenant_id, moment)
            created = await generate_instances(
                session, tenant_id=tenant_id, today=today, horizon_months=horizon_months
            )
            if created:
                await record(
                    session,
                    tenant_id=tenant_id,
                    action="obligation.generate",
                    entity_type="obligation_instance",
                    entity_id=None,
                    after={
                        "created": created,
                        "through": horizon_end(today, horizon_months).isoformat(),
                    },
                )
        report.tenants += 1
        report.created += created
        report.per_tenant[tenant_id] = created
    return report
