"""The daily digest: one per user per local day, only with news, to the user's own channel."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import (
    AppRole,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    ObligationStatus,
    Severity,
)
from core.errors import PermissionDeniedError
from core.notify.digest import digest_for, run_digest
from core.notify.dispatcher import Dispatcher
from core.notify.models import NotificationEvent
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.tenancy.models import User
from tests.core.notify.conftest import Clock, World
from tests.core.notify.test_channels import email_connector
from tests.core.notify.test_escalation import add_user
from tests.peers import SmtpServer


async def add_obligation(world: World, title: str, due: date, status: ObligationStatus) -> None:
    async with world.db.tenant_uow(world.tenant.id) as session:
        template = ObligationTemplate(
            tenant_id=world.tenant.id,
            category=ObligationCategory.fire_safety,
            title=title,
            severity=Severity.high,
        )
        session.add(template)
        await session.flush()
        session.add(
            ObligationInstance(
                tenant_id=world.tenant.id,
                branch_id=world.branch.id,
                template_id=template.id,
                category=template.category,
                status=status,
                due_at=due,
            )
        )


async def digests(world: World) -> list[NotificationEvent]:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return list(
            await session.scalars(
                select(NotificationEvent).where(
                    NotificationEvent.event_type == NotificationEventType.digest
                )
            )
        )


async def test_digest_once_per_user_and_day_after_local_time(
    world: World, box: SecretBox, smtp: SmtpServer, settings: Settings, dispatcher: Dispatcher
) -> None:
    today = date(2026, 11, 26)
    await add_obligation(
        world, "Fire safety certificate", today - timedelta(days=2), ObligationStatus.overdue
    )
    await add_obligation(world, "VAT return", today, ObligationStatus.due_today)
    await add_obligation(
        world, "Trade licence", today + timedelta(days=30), ObligationStatus.upcoming
    )
    manager = await add_user(world, AppRole.branch_manager, branch=True)
    await add_user(world, AppRole.operator, branch=False)
    await email_connector(world, box, smtp)

    before_eight = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # 07:30 in Dhaka
    assert (await run_digest(world.db, settings, now=before_eight)).emitted == 0
    after_eight = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 08:30 in Dhaka
    assert (await run_digest(world.db, settings, now=after_eight)).emitted == 1
    assert (await run_digest(world.db, settings, now=after_eight + timedelta(hours=3))).emitted == 0

    [event] = await digests(world)
    assert event.payload_json["user_id"] == manager.id
    assert "Overdue: 1" in event.payload_json["summary"]
    assert "Due today: 1" in event.payload_json["summary"]
    assert "Fire safety certificate — 2 day(s) overdue" in event.payload_json["summary"]

    dispatcher.clock = Clock()
    dispatcher.clock.now = after_eight
    assert (await dispatcher.run_once()).sent == 1
    [message] = smtp.mailbox.messages
    assert message["To"] == manager.email
    assert message["Subject"] == "[Intrex low] Your Intrex digest for 26 Nov 2026"

    next_day = after_eight + timedelta(days=1)
    assert (await run_digest(world.db, settings, now=next_day)).emitted == 1


async def test_unreachable_user_digest_is_cancelled_not_dead(
    world: World, settings: Settings
) -> None:
    await add_obligation(world, "VAT return", date(2026, 11, 26), ObligationStatus.due_today)
    await add_user(world, AppRole.head_office_admin, branch=False)
    await run_digest(world.db, settings, now=datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    [event] = await digests(world)
    assert event.status is NotificationStatus.cancelled


async def test_summary_respects_branch_scope(world: World) -> None:
    await add_obligation(world, "VAT return", date(2026, 11, 26), ObligationStatus.due_today)
    outsider = await add_user(world, AppRole.operator, branch=False)
    admin = await add_user(world, AppRole.head_office_admin, branch=False)
    morning = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    as_outsider = await digest_for(world.db, outsider, now=morning)
    as_admin = await digest_for(world.db, admin, now=morning)
    async with world.db.tenant_uow(world.tenant.id) as session:
        total = await session.scalar(select(func.count()).select_from(ObligationInstance))
    assert total == 1
    assert not as_outsider.anything
    assert as_admin.due_today == 1


async def test_on_demand_digest_refuses_an_inactive_user(world: World) -> None:
    gone = await add_user(world, AppRole.operator, branch=True)
    async with world.db.tenant_uow(world.tenant.id) as session:
        (await session.get_one(User, gone.id)).status = "disabled"
    with pytest.raises(PermissionDeniedError, match="not active"):
        await digest_for(world.db, gone)
