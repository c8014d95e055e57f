"""Grace (SPEC §6): an instance still open `grace_days` after its due date raises one
escalated overdue alert, a severity step up, after the plain overdue one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from core.db.enums import NotificationEventType, Severity
from core.db.session import Database
from core.notify.models import NotificationEvent
from core.obligations.clock import (
    grace_fingerprint,
    overdue_fingerprint,
    raised,
    run_obligation_clock,
)
from core.obligations.models import ObligationTemplate
from core.obligations.recurrence import Recurrence
from tests.companies import new_branch, new_tenant
from tests.core.obligations.helpers import instances_of, new_template

CREATED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
DUE = date(2026, 3, 20)


def test_raised_is_one_step_up_and_critical_stays() -> None:
    assert [raised(s) for s in Severity] == [
        Severity.medium,
        Severity.high,
        Severity.critical,
        Severity.critical,
    ]


async def test_grace_escalation_fires_once_with_severity_raised(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC")
    await new_branch(db, tenant, "HQ")
    made = await new_template(
        db,
        tenant,
        anchor=DUE,
        recurrence=Recurrence.none,
        lead_days=(1,),
        severity=Severity.high,
        now=CREATED,
    )
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(ObligationTemplate)
            .where(ObligationTemplate.id == made.template.id)
            .values(grace_days=15)
        )
    (instance,) = await instances_of(db, tenant)

    escalated_on = None
    for offset in range(-2, 25):
        day = DUE + timedelta(days=offset)
        report = await run_obligation_clock(
            db, now=datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        )
        if report.grace_escalations:
            assert escalated_on is None, "the escalation fires once"
            escalated_on = day
        # A run later the same day finds nothing more to say.
        again = await run_obligation_clock(
            db, now=datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
        )
        assert again.grace_escalations == again.overdue_reminders == 0
    assert escalated_on == DUE + timedelta(days=15)

    async with db.tenant_uow(tenant.id) as session:
        alerts = list(
            await session.scalars(
                select(NotificationEvent)
                .where(NotificationEvent.event_type == NotificationEventType.obligation_overdue)
                .order_by(NotificationEvent.created_at)
            )
        )
    assert [(a.fingerprint, a.severity) for a in alerts] == [
        (overdue_fingerprint(instance.id, DUE), Severity.high),
        (grace_fingerprint(instance.id, DUE), Severity.critical),
    ]
    escalation = alerts[1].payload_json
    assert escalation["escalated"] is True
    assert escalation["grace_days"] == 15
    assert escalation["days_left"] == -15
    (after,) = await instances_of(db, tenant)
    assert after.next_reminder_on is None


async def test_no_grace_days_no_escalation(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC")
    await new_branch(db, tenant, "HQ")
    await new_template(
        db, tenant, anchor=DUE, recurrence=Recurrence.none, lead_days=(0,), now=CREATED
    )
    for offset in range(0, 40, 3):
        day = DUE + timedelta(days=offset)
        report = await run_obligation_clock(
            db, now=datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        )
        assert report.grace_escalations == 0
