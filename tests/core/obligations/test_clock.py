"""The clock over a database of its own: local dates, reminders once each, catch-up, cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from core.db.enums import OPEN_ALERT, AppRole, NotificationStatus, ObligationStatus
from core.db.session import Database
from core.notify.models import NotificationEvent
from core.obligations.actions import complete_obligation, waive_obligation
from core.obligations.clock import due_fingerprint, overdue_fingerprint, run_obligation_clock
from core.obligations.recurrence import Recurrence
from core.tenancy.models import Tenant
from tests.companies import new_branch, new_tenant, person
from tests.core.obligations.helpers import instances_of, new_template

CREATED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at_noon_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)


async def events(db: Database, tenant: Tenant) -> list[NotificationEvent]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(NotificationEvent).order_by(
                    NotificationEvent.created_at, NotificationEvent.fingerprint
                )
            )
        )


async def test_dhaka_is_due_today_while_utc_is_still_the_day_before(private_db: Database) -> None:
    db = private_db
    dhaka = await new_tenant(db, "Asia/Dhaka")
    london = await new_tenant(db, "UTC")
    for tenant in (dhaka, london):
        await new_branch(db, tenant, "HQ")
        await new_template(
            db, tenant, anchor=date(2026, 3, 11), recurrence=Recurrence.none, now=CREATED
        )

    async def status(tenant: Tenant) -> ObligationStatus:
        (instance,) = await instances_of(db, tenant)
        return instance.status

    evening_utc = datetime(2026, 3, 10, 19, 30, tzinfo=UTC)  # 01:30 on the 11th in Dhaka
    report = await run_obligation_clock(db, now=evening_utc)
    assert report.ran
    assert report.moved_to_due_today == 1
    assert report.moved_to_overdue == 0
    assert await status(dhaka) is ObligationStatus.due_today
    assert await status(london) is ObligationStatus.upcoming

    next_evening = evening_utc + timedelta(days=1)
    report = await run_obligation_clock(db, now=next_evening)
    assert (report.moved_to_due_today, report.moved_to_overdue) == (1, 1)
    assert await status(dhaka) is ObligationStatus.overdue
    assert await status(london) is ObligationStatus.due_today
    again = await run_obligation_clock(db, now=next_evening)
    assert (again.moved_to_due_today, again.moved_to_overdue) == (0, 0)


async def test_each_reminder_goes_out_once_at_its_lead_time(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC")
    await new_branch(db, tenant, "HQ")
    due = date(2026, 3, 20)
    await new_template(
        db, tenant, anchor=due, recurrence=Recurrence.none, lead_days=(7, 1, 0), now=CREATED
    )
    (instance,) = await instances_of(db, tenant)
    sent_on: dict[str, date] = {}
    for offset in range(-12, 4):
        day = due + timedelta(days=offset)
        for _ in range(2):  # a second tick the same day sends nothing more
            await run_obligation_clock(db, now=at_noon_utc(day))
        for event in await events(db, tenant):
            sent_on.setdefault(event.fingerprint, day)
    assert sent_on == {
        due_fingerprint(instance.id, due, 7): due - timedelta(days=7),
        due_fingerprint(instance.id, due, 1): due - timedelta(days=1),
        due_fingerprint(instance.id, due, 0): due,
        overdue_fingerprint(instance.id, due): due + timedelta(days=1),
    }
    emitted = await events(db, tenant)
    assert len(emitted) == 4
    overdue = next(e for e in emitted if e.event_type.value == "obligation_overdue")
    assert overdue.payload_json["days_left"] == -1
    assert overdue.payload_json["branch_code"] == "HQ"
    assert overdue.severity.value == "high"


async def test_catch_up_after_downtime_sends_the_current_level_only(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC")
    await new_branch(db, tenant, "HQ")
    soon = await new_template(
        db,
        tenant,
        anchor=date(2026, 3, 20),
        recurrence=Recurrence.none,
        now=CREATED,
        title="Soon",
    )
    late = await new_template(
        db,
        tenant,
        anchor=date(2026, 3, 5),
        recurrence=Recurrence.none,
        now=CREATED,
        title="Late",
    )
    # Nothing ran between January and 18 March: 30-, 14- and 7-day levels of "Soon" were
    # missed, "Late" passed its date unnoticed.
    report = await run_obligation_clock(db, now=at_noon_utc(date(2026, 3, 18)))
    (soon_instance,) = await instances_of(db, tenant, soon.template.id)
    (late_instance,) = await instances_of(db, tenant, late.template.id)
    fingerprints = {e.fingerprint for e in await events(db, tenant)}
    assert fingerprints == {
        due_fingerprint(soon_instance.id, date(2026, 3, 20), 7),
        overdue_fingerprint(late_instance.id, date(2026, 3, 5)),
    }
    assert (report.due_reminders, report.overdue_reminders) == (1, 1)
    # The next level still comes at its time.
    await run_obligation_clock(db, now=at_noon_utc(date(2026, 3, 19)))
    assert due_fingerprint(soon_instance.id, date(2026, 3, 20), 1) in {
        e.fingerprint for e in await events(db, tenant)
    }


async def test_completing_resolves_its_alerts_and_continues_the_series(
    private_db: Database,
) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC")
    branch = await new_branch(db, tenant, "HQ")
    operator = await person(db, tenant, AppRole.operator, [branch])
    manager = await person(db, tenant, AppRole.branch_manager, [branch])
    result = await new_template(db, tenant, anchor=date(2026, 1, 31), now=CREATED)
    await run_obligation_clock(db, now=at_noon_utc(date(2026, 1, 30)))
    await run_obligation_clock(db, now=at_noon_utc(date(2026, 2, 1)))
    first, second = (await instances_of(db, tenant, result.template.id))[:2]
    reminders = [e for e in await events(db, tenant) if str(first.id) in e.fingerprint]
    # No route exists, so the outbox holds them undelivered (dead-lettered for want of one).
    assert len(reminders) == 2
    assert {e.status for e in reminders} == {NotificationStatus.dead_letter}
    # One of them reached someone meanwhile: an alert delivered and not acknowledged is
    # still open, and completing the obligation closes it too.
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(NotificationEvent)
            .where(NotificationEvent.id == reminders[0].id)
            .values(status=NotificationStatus.sent)
        )
    assert all(e.status in OPEN_ALERT for e in await events(db, tenant))

    completed_at = at_noon_utc(date(2026, 2, 1))
    async with operator(now=completed_at) as (session, actor):
        done = await complete_obligation(session, actor, first.id, now=completed_at)
    assert done.obligation.status is ObligationStatus.completed
    assert done.resolved_alerts == 2
    assert done.next_obligation is not None
    assert done.next_obligation.due_at == date(2026, 2, 28)
    statuses = {e.status for e in await events(db, tenant) if str(first.id) in e.fingerprint}
    assert statuses == {NotificationStatus.cancelled}
    # The clock does not remind about a completed instance again.
    await run_obligation_clock(db, now=at_noon_utc(date(2026, 2, 3)))
    assert not any(
        str(first.id) in e.fingerprint and e.status is not NotificationStatus.cancelled
        for e in await events(db, tenant)
    )

    waived_at = at_noon_utc(date(2026, 2, 27))
    await run_obligation_clock(db, now=waived_at)
    async with manager(now=waived_at) as (session, actor):
        waived = await waive_obligation(
            session, actor, second.id, "Branch closed for renovation", now=waived_at
        )
    assert waived.resolved_alerts >= 1
    assert waived.next_obligation is not None
    assert waived.next_obligation.due_at == date(2026, 3, 31)
    assert not any(
        str(second.id) in e.fingerprint and e.status is not NotificationStatus.cancelled
        for e in await events(db, tenant)
    )


async def test_replicas_ticking_together_send_each_reminder_once(private_db: Database) -> None:
    db = private_db
    tenants = [await new_tenant(db, "UTC") for _ in range(3)]
    for tenant in tenants:
        for code in ("A", "B"):
            await new_branch(db, tenant, code)
        await new_template(db, tenant, anchor=date(2026, 2, 1), now=CREATED)
    moment = at_noon_utc(date(2026, 1, 31))
    reports = await asyncio.gather(*(run_obligation_clock(db, now=moment) for _ in range(4)))
    assert any(r.ran for r in reports)
    sent = sum(r.due_reminders for r in reports)
    # Per branch: 1 day before 1 February, and 30 days before 1 March (29 days left).
    assert sent == 3 * 2 * 2
    fingerprints = [e.fingerprint for t in tenants for e in await events(db, t)]
    assert len(fingerprints) == len(set(fingerprints)) == sent


async def test_batch_limit_leaves_the_rest_for_the_next_tick(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC")
    for code in ("A", "B", "C"):
        await new_branch(db, tenant, code)
    await new_template(
        db, tenant, anchor=date(2026, 1, 10), recurrence=Recurrence.none, now=CREATED
    )
    moment = at_noon_utc(date(2026, 1, 9))
    first = await run_obligation_clock(db, now=moment, batch_limit=2)
    assert first.more_pending
    assert first.due_reminders == 2
    second = await run_obligation_clock(db, now=moment, batch_limit=2)
    assert not second.more_pending
    assert second.due_reminders == 1
