"""Assembling the channels a process can deliver through, and the test alert."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from core.clock import utc_now
from core.config import Settings
from core.db.enums import ConnectorType, NotificationEventType, Severity
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
) -> tuple[NotificationEvent, list[NotificationStep]]:
    """A test alert through the tenant's routes (never deduplicated), to check a connector.

    Every level is due at once: the point is to try each route now, not to wait for escalation.
    """
    branch: Branch | None = await find_branch(db, tenant, branch_code) if branch_code else None
    now = utc_now()
    async with db.tenant_uow(tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=tenant.id,
            event_type=event_type,
            severity=severity,
            fingerprint=f"test:{uuid.uuid4()}",
            payload={
                "branch_code": branch.code if branch else None,
                "test": True,
            },
            branch_id=branch.id if branch else None,
            scheduled_for=now,
        )
        assert event is not None
        await session.execute(
            update(NotificationStep)
            .where(NotificationStep.notification_event_id == event.id)
            .values(next_attempt_at=now)
        )
        steps = list(
            await session.scalars(
                select(NotificationStep)
                .where(NotificationStep.notification_event_id == event.id)
                .order_by(NotificationStep.level, NotificationStep.next_attempt_at)
            )
        )
    return event, steps
