"""Dead letters: events that reached nobody, why, and sending them again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update

from core.audit import record
from core.clock import utc_now
from core.db.enums import ConnectorType, NotificationStatus
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError
from core.notify.addressees import Addressed, name_recipients
from core.notify.models import Connector, NotificationEvent, NotificationStep
from core.notify.recipients import RESOLVED
from core.notify.redaction import redact_known
from core.notify.routing import plan_steps
from core.tenancy.models import Branch, Tenant

NO_ROUTE = "no route matched this event (add one with `intrex route add`)"
NOTHING_FAILED = "nothing was sent: every step was cancelled"
LOCAL_TIME = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class FailedStep:
    """A step that reached nobody: whom it was for, and the reason it recorded."""

    level: int
    connector: str
    recipient_ref: str
    recipient: str
    """The recipient and channel in words (`core.notify.addressees`)."""
    status: NotificationStatus
    reason: str
    """The step's `last_error`, redacted again on the way out (rows stored before
    redaction, or secrets only the process knows)."""
    attempts: int
    ended_at: datetime
    """When it gave up (a dead letter) or was due (a skipped step)."""


@dataclass(frozen=True)
class DeadLetter:
    event: NotificationEvent
    tenant_name: str
    timezone: str
    branch_code: str | None
    failures: list[FailedStep] = field(default_factory=list)
    had_steps: bool = False

    def local(self, moment: datetime) -> str:
        """`moment` on the tenant's wall clock."""
        return f"{moment.astimezone(ZoneInfo(self.timezone)):{LOCAL_TIME}}"

    @property
    def reasons(self) -> list[str]:
        """One line per failed step: who, through what, the real reason, attempts, when.

        "no route matched" only when the event never had a step to send.
        """
        if not self.failures:
            return [NOTHING_FAILED if self.had_steps else NO_ROUTE]
        lines = []
        for failure in self.failures:
            if failure.status is NotificationStatus.dead_letter:
                tries = (
                    "never sent"
                    if failure.attempts == 0
                    else f"{failure.attempts} attempt" + ("s" if failure.attempts > 1 else "")
                )
                when = f"gave up {self.local(failure.ended_at)}"
            else:
                tries, when = "not sent", f"skipped {self.local(failure.ended_at)}"
            lines.append(f"{failure.recipient}: {failure.reason} ({tries}, {when})")
        return lines


async def list_dead_letters(
    db: Database,
    tenant: Tenant | None = None,
    *,
    limit: int = 100,
    include_tests: bool = True,
) -> list[DeadLetter]:
    """The newest dead-lettered events (of one tenant or all), each with the steps that
    reached nobody and why: the reason each step recorded (a channel's refusal, "nobody to
    reach: …", "recipient disabled"), times on each tenant's clock. `include_tests=False`
    leaves out `intrex notify test` events."""
    async with db.system_uow() as session:
        query = (
            select(NotificationEvent, Tenant.name, Tenant.timezone, Branch.code)
            .join(Tenant, Tenant.id == NotificationEvent.tenant_id)
            .outerjoin(Branch, Branch.id == NotificationEvent.branch_id)
            .where(NotificationEvent.status == NotificationStatus.dead_letter)
            .order_by(NotificationEvent.created_at.desc())
            .limit(limit)
        )
        if tenant is not None:
            query = query.where(NotificationEvent.tenant_id == tenant.id)
        if not include_tests:
            query = query.where(NotificationEvent.is_test.is_(False))
        events = (await session.execute(query)).all()
        branches = {event.id: code for event, _, _, code in events}
        steps = (
            await session.execute(
                select(NotificationStep, Connector.name, Connector.type)
                .join(Connector, Connector.id == NotificationStep.connector_id)
                .where(
                    NotificationStep.notification_event_id.in_(list(branches)),
                )
                .order_by(NotificationStep.level, NotificationStep.created_at)
            )
        ).all()
        failed = [
            (step, name, kind)
            for step, name, kind in steps
            if step.status is NotificationStatus.dead_letter
            or (
                step.status is NotificationStatus.cancelled
                and step.last_error
                and step.last_error != RESOLVED
            )
        ]
        words = await name_recipients(
            session,
            [
                Addressed(
                    step.tenant_id,
                    step.recipient_ref,
                    name,
                    ConnectorType(kind),
                    branches.get(step.notification_event_id),
                )
                for step, name, kind in failed
            ],
        )
    with_steps = {step.notification_event_id for step, _, _ in steps}
    failures: dict[uuid.UUID, list[FailedStep]] = {}
    for (step, name, _), recipient in zip(failed, words, strict=True):
        failures.setdefault(step.notification_event_id, []).append(
            FailedStep(
                level=step.level,
                connector=name,
                recipient_ref=step.recipient_ref,
                recipient=recipient,
                status=step.status,
                reason=redact_known(step.last_error or "failed"),
                attempts=step.attempts,
                ended_at=step.next_attempt_at,
            )
        )
    return [
        DeadLetter(
            event,
            name,
            timezone,
            code,
            failures.get(event.id, []),
            had_steps=event.id in with_steps,
        )
        for event, name, timezone, code in events
    ]


async def retry_dead_letters(
    db: Database,
    tenant: Tenant | None = None,
    *,
    event_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> int:
    """Queue dead events again: failed steps start over; events without steps are re-routed."""
    moment = utc_now(now)
    async with db.system_uow() as session:
        query = select(NotificationEvent).where(
            NotificationEvent.status == NotificationStatus.dead_letter
        )
        if tenant is not None:
            query = query.where(NotificationEvent.tenant_id == tenant.id)
        if event_id is not None:
            query = query.where(NotificationEvent.id == event_id)
        events = list(await session.scalars(query.with_for_update(skip_locked=True)))
        if event_id is not None and not events:
            raise NotFoundError(ErrorCode.dead_letter_not_found, event_id=str(event_id))
        for event in events:
            revived = await session.execute(
                update(NotificationStep)
                .where(
                    NotificationStep.notification_event_id == event.id,
                    NotificationStep.status == NotificationStatus.dead_letter,
                )
                .values(
                    status=NotificationStatus.queued,
                    attempts=0,
                    next_attempt_at=moment,
                    claimed_until=None,
                    claimed_by=None,
                )
            )
            if not getattr(revived, "rowcount", 0):
                has_steps = await session.scalar(
                    select(NotificationStep.id)
                    .where(NotificationStep.notification_event_id == event.id)
                    .limit(1)
                )
                if has_steps is None:
                    event.scheduled_for = moment
                    if not await plan_steps(session, event):
                        continue
            event.status = NotificationStatus.queued
            await record(
                session,
                tenant_id=event.tenant_id,
                action="notification.retry",
                entity_type="notification_event",
                entity_id=event.id,
                after={"status": "queued"},
            )
        await session.flush()
        count = await session.scalar(
            text(
                "SELECT count(*) FROM notification_events "
                "WHERE id = ANY(:ids) AND status = 'queued'"
            ),
            {"ids": [event.id for event in events]},
        )
    return int(count or 0)
