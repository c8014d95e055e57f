"""Assembling the channels a process can deliver through, and the test alert."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from core.clock import utc_now
from core.config import Settings
from core.db.enums import ConnectorType, NotificationEventType, NotificationStatus, Severity
from core.db.session import Database
from core.notify.channels.base import Channel
from core.notify.channels.email import EmailChannel
from core.notify.channels.http import GuardedHttp
from core.notify.channels.telegram import TelegramChannel, TelegramSender
from core.notify.channels.webhook import WebhookChannel
from core.notify.channels.whatsapp import WhatsAppChannel
from core.notify.events import emit_event
from core.notify.models import NotificationEvent, NotificationStep
from core.tenancy.models import Branch, Tenant
from core.tenancy.service import find_branch


def build_channels(
    settings: Settings, telegram: TelegramSender | None = None
) -> dict[ConnectorType, Channel]:
    """One channel per connector type; the HTTP ones share a guarded keep-alive client."""
    http = GuardedHttp(
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private=settings.allow_private_targets,
    )
    return {
        ConnectorType.webhook: WebhookChannel(http),
        ConnectorType.whatsapp_business: WhatsAppChannel(http),
        ConnectorType.email_smtp: EmailChannel(timeout_seconds=settings.smtp_timeout_seconds),
        ConnectorType.telegram_bot: TelegramChannel(telegram),
    }


async def close_channels(channels: dict[ConnectorType, Channel]) -> None:
    for channel in channels.values():
        await channel.close()


async def send_test_event(
    db: Database,
    tenant: Tenant,
    *,
    severity: Severity = Severity.high,
    branch_code: str | None = None,
    event_type: NotificationEventType = NotificationEventType.ssl_failure,
    all_now: bool = False,
    now: datetime | None = None,
) -> tuple[NotificationEvent, list[NotificationStep]]:
    """A test alert through the tenant's routes (never deduplicated), to check a connector.

    It is marked `is_test` (lists of alerts leave it out; its `event_type` only says which
    routes it goes through, those of that type or of all types). Each route's step waits its
    delay as a real alert's would, so an escalation can be tried too; `all_now` makes every
    step due at once. With no route at all it is cancelled, not a dead letter: a test that
    matched nothing lost no alert (the caller says so).
    """
    branch: Branch | None = await find_branch(db, tenant, branch_code) if branch_code else None
    moment = utc_now(now)
    async with db.tenant_uow(tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=tenant.id,
            event_type=event_type,
            severity=severity,
            fingerprint=f"test:{uuid.uuid4()}",
            payload={
                "test": True,
                "branch_code": branch.code if branch else None,
                "branch_name": branch.name if branch else None,
                "head_office": branch is None,
            },
            branch_id=branch.id if branch else None,
            scheduled_for=moment,
        )
        assert event is not None
        event.is_test = True
        if event.status is NotificationStatus.dead_letter:
            event.status = NotificationStatus.cancelled
        if all_now:
            await session.execute(
                update(NotificationStep)
                .where(NotificationStep.notification_event_id == event.id)
                .values(next_attempt_at=moment)
            )
        await session.flush()
        steps = list(
            await session.scalars(
                select(NotificationStep)
                .where(NotificationStep.notification_event_id == event.id)
                .order_by(NotificationStep.level, NotificationStep.next_attempt_at)
                .execution_options(populate_existing=True)
            )
        )
    return event, steps
