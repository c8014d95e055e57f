"""Creating instances from templates: per applicable branch, a horizon ahead, never twice.

The unique constraint on (template, branch, series date) is what makes generation safe to
repeat and to run from several replicas at once: rows are inserted with ON CONFLICT DO
NOTHING, so a second run, or a concurrent one, adds nothing that exists.

Which due dates: the occurrences from today to the horizon. Past occurrences are not
invented: a series whose anchor lies in the past gets its anchor instance when the
template is created (the person asked for that date) and its future ones from then on,
rather than a backlog of overdue items nobody asked for. Which branches: every active
branch the template applies to (`core.obligations.jurisdiction`) as the branches are now,
so a branch created, moved into the jurisdiction or re-activated gets its instances on the
next run. Inactive templates generate nothing.

It is one set-based statement: the due dates are computed by PostgreSQL from the anchor
(`anchor + interval 'k months'` clips month ends exactly as `core.obligations.recurrence`
does), so a run over 100,000 templates neither builds rows in Python nor ships them back.
Its plan does not hang on statistics: a template bound to one branch finds the branch by
one lookup of its primary key (`OFFSET 0` keeps the planner from making that a join it may
order badly while templates inserted in the same transaction have no statistics yet: an
import's 10,000 rows took minutes so), and each occurrence is computed from its own row.
The lookup names the branch by id alone: the template's foreign key on (tenant, branch)
already holds it to the tenant, and adding `b.tenant_id = t.tenant_id` let the planner
walk the tenant's index instead, every branch of the tenant for every template (while
the branches of a tenant just onboarded have no statistics either: ten times slower at
100 branches, and growing with them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.clock import utc_now
from core.db.enums import BranchStatus
from core.db.session import Database
from core.obligations.jurisdiction import covers_sql
from core.obligations.models import ObligationInstance, ObligationSkip, ObligationTemplate
from core.obligations.recurrence import Recurrence, first_occurrence_after
from core.obligations.schedule import first_reminder_on, status_for, tenant_today
from core.tenancy.models import Branch, Tenant

DEFAULT_HORIZON_MONTHS = 12
UNIQUE_OCCURRENCE = "uq_obligation_instances_template_id_branch_id_series_date"

OWNER_IN_SCOPE = """
    EXISTS (SELECT 1 FROM users AS u
            WHERE u.id = {owner} AND u.tenant_id = b.tenant_id
              AND (u.role = 'head_office_admin'
                   OR EXISTS (SELECT 1 FROM user_branches AS ub
                              WHERE ub.user_id = u.id AND ub.branch_id = b.id)))
"""
"""An owner may own an instance of a branch in their scope (admins: every branch)."""

GENERATE_SQL = """
WITH chosen AS (
    SELECT t.*,
           CASE t.recurrence_type WHEN 'monthly' THEN 1 WHEN 'quarterly' THEN 3
                WHEN 'semiannual' THEN 6 WHEN 'annual' THEN 12 END AS step_months,
           CASE WHEN t.recurrence_type LIKE 'every:%%'
                THEN substr(t.recurrence_type, 7)::int END AS step_days,
           ((extract(year FROM CAST(:today AS date)) - extract(year FROM t.anchor_date)) * 12
            + extract(month FROM CAST(:today AS date)) - extract(month FROM t.anchor_date))::int
               AS months_since
    FROM obligation_templates AS t
    {only}
    WHERE t.tenant_id = :tenant_id AND t.status = 'active' AND t.anchor_date IS NOT NULL
      AND (CAST(:branch_id AS uuid) IS NULL OR t.branch_id IS NULL
           OR t.branch_id = CAST(:branch_id AS uuid))
), applies AS (
    SELECT t.*, b.id AS target_branch_id
    FROM chosen AS t
    CROSS JOIN LATERAL (SELECT b.id FROM branches AS b
                        WHERE b.id = t.branch_id AND b.status = 'active'
                        OFFSET 0) AS b
    UNION ALL
    SELECT t.*, b.id
    FROM chosen AS t
    JOIN branches AS b ON b.tenant_id = t.tenant_id AND b.status = 'active'
     AND (CAST(:branch_id AS uuid) IS NULL OR b.id = CAST(:branch_id AS uuid))
    LEFT JOIN jurisdictions AS j ON j.id = t.jurisdiction_id
    WHERE t.branch_id IS NULL AND {covers}
), dues AS (
    SELECT c.*, d.due_at
    FROM applies AS c
    CROSS JOIN LATERAL (
        SELECT c.anchor_date AS due_at
        WHERE c.recurrence_type = 'none' OR :with_anchor
        UNION
        SELECT (c.anchor_date + make_interval(months => c.step_months * k))::date
        FROM generate_series(greatest(0, c.months_since / c.step_months - 1),
                             greatest(0, c.months_since / c.step_months - 1)
                             + :horizon_months / c.step_months + 2) AS k
        WHERE c.step_months IS NOT NULL
        UNION
        SELECT c.anchor_date + c.step_days * k
        FROM generate_series(greatest(0, (CAST(:today AS date) - c.anchor_date) / c.step_days),
                             greatest(0, (CAST(:today AS date) - c.anchor_date) / c.step_days)
                             + (CAST(:horizon AS date) - CAST(:today AS date)) / c.step_days + 1)
             AS k
        WHERE c.step_days IS NOT NULL
    ) AS d
    WHERE d.due_at <= CAST(:horizon AS date)
      AND (d.due_at >= CAST(:today AS date) OR (:with_anchor AND d.due_at = c.anchor_date))
), created AS (
    INSERT INTO obligation_instances
        (tenant_id, branch_id, template_id, category, title, severity, status, due_at,
         series_date, next_reminder_on, owner_user_id)
    SELECT t.tenant_id, b.id, t.id, t.category, t.title, t.severity,
           (CASE WHEN t.due_at < CAST(:today AS date) THEN 'overdue'
                 WHEN t.due_at = CAST(:today AS date) THEN 'due_today'
                 ELSE 'upcoming' END)::obligation_status,
           t.due_at,
           t.due_at,
           t.due_at - COALESCE((SELECT max(lead) FROM unnest(t.reminder_lead_days) AS lead), -1),
           CASE WHEN t.owner_user_id IS NOT NULL AND {owner_in_scope}
                THEN t.owner_user_id END
    FROM dues AS t
    CROSS JOIN LATERAL (SELECT t.target_branch_id AS id, t.tenant_id) AS b
    WHERE NOT EXISTS (SELECT 1 FROM obligation_skips AS s
                      WHERE s.template_id = t.id AND s.branch_id = b.id
                        AND s.series_date = t.due_at)
    ON CONFLICT ON CONSTRAINT {unique} DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM created
"""


def horizon_end(today: date, horizon_months: int) -> date:
    return today + relativedelta(months=horizon_months)


def _generate_statement(*, only_chosen: bool) -> Any:
    return text(
        GENERATE_SQL.format(
            only="JOIN unnest(CAST(:template_ids AS uuid[])) AS wanted(id) ON wanted.id = t.id"
            if only_chosen
            else "",
            owner_in_scope=OWNER_IN_SCOPE.format(owner="t.owner_user_id"),
            covers=covers_sql("t", "b", "j"),
            unique=UNIQUE_OCCURRENCE,
        ).replace("%%", "%")
    )


async def generate_instances(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    today: date,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    template_ids: Iterable[uuid.UUID] | None = None,
    branch_id: uuid.UUID | None = None,
    with_anchor: bool = False,
) -> int:
    """Generate the tenant's instances up to the horizon (all active templates, or those
    named; every branch, or the one named); returns how many were new. `with_anchor` also
    makes each series' anchor instance when it lies in the past (a template just created,
    an imported row)."""
    chosen = None if template_ids is None else list(template_ids)
    if chosen is not None and not chosen:
        return 0
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "today": today,
        "horizon": horizon_end(today, horizon_months),
        "horizon_months": horizon_months,
        "with_anchor": with_anchor,
        "branch_id": branch_id,
    }
    if chosen is not None:
        params["template_ids"] = chosen
    statement = _generate_statement(only_chosen=chosen is not None)
    return int(await session.scalar(statement, params) or 0)


def _next_instance_row(
    template: ObligationTemplate, instance: ObligationInstance, due_at: date, today: date
) -> dict[str, Any]:
    return {
        "tenant_id": template.tenant_id,
        "branch_id": instance.branch_id,
        "template_id": template.id,
        "category": template.category,
        "title": template.title,
        "severity": template.severity,
        "status": status_for(due_at, today),
        "due_at": due_at,
        "series_date": due_at,
        "next_reminder_on": first_reminder_on(due_at, template.reminder_lead_days),
        "owner_user_id": instance.owner_user_id,
    }


async def continue_series(
    session: AsyncSession, instance: ObligationInstance, template: ObligationTemplate, today: date
) -> ObligationInstance | None:
    """Make sure a recurring series has its next instance after `instance` (not in the past).

    The next due date is the first occurrence after this one's series date (not its due
    date, which may have been moved), not before today and not deleted, so
    closing an old item late does not fabricate a backlog; generation has usually created
    it already, and then that existing row is returned. A deactivated branch, or a
    deactivated template, gets no next instance; the next one keeps this one's owner.
    """
    if template.anchor_date is None or not Recurrence(template.recurrence_type).recurring:
        return None
    branch_status = await session.scalar(
        select(Branch.status).where(Branch.id == instance.branch_id)
    )
    if branch_status != BranchStatus.active.value or template.status != "active":
        return None
    recurrence = Recurrence(template.recurrence_type)
    after = max(instance.series_date, today - relativedelta(days=1))
    skipped = set(
        await session.scalars(
            select(ObligationSkip.series_date).where(
                ObligationSkip.template_id == template.id,
                ObligationSkip.branch_id == instance.branch_id,
                ObligationSkip.series_date > after,
            )
        )
    )
    next_due = first_occurrence_after(template.anchor_date, recurrence, after)
    while next_due is not None and next_due in skipped:
        next_due = first_occurrence_after(template.anchor_date, recurrence, next_due)
    if next_due is None:
        return None
    await session.execute(
        insert(ObligationInstance)
        .values(_next_instance_row(template, instance, next_due, today))
        .on_conflict_do_nothing(constraint=UNIQUE_OCCURRENCE)
    )
    return await session.scalar(
        select(ObligationInstance).where(
            ObligationInstance.template_id == template.id,
            ObligationInstance.branch_id == instance.branch_id,
            ObligationInstance.series_date == next_due,
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
