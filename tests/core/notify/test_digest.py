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
from core.digest.service import DigestSummary, digest_for, run_digest
from core.errors import ErrorCode, PermissionDeniedError
from core.i18n import texts_for
from core.notify.dispatcher import Dispatcher
from core.notify.models import NotificationEvent
from core.notify.render import digest_lines
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.tenancy.models import User
from core.tenancy.scope import ActorUnits
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
                title=template.title,
                severity=template.severity,
                status=status,
                due_at=due,
                series_date=due,
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
    # The payload is data (counts, the most urgent items); each recipient's words are
    # rendered from it when it is sent.
    assert event.payload_json == {
        "user_id": manager.user_id,
        "today": "2026-11-26",
        "overdue": 1,
        "due_today": 1,
        "due_this_week": 0,
        "failing_domains": 0,
        "expiring_domains": 0,
        "top": [
            {"title": "Fire safety certificate", "branch": "DHK-01", "due_date": "2026-11-24"},
            {"title": "VAT return", "branch": "DHK-01", "due_date": "2026-11-26"},
        ],
    }
    lines = digest_lines(texts_for("en"), event.payload_json)
    assert "Overdue: 1" in lines
    assert "Due today: 1" in lines
    assert "• Fire safety certificate (DHK-01), overdue by 2 days" in lines
    assert "• VAT return (DHK-01), due today" in lines

    dispatcher.clock = Clock()
    dispatcher.clock.now = after_eight
    assert (await dispatcher.run_once()).sent == 1
    [message] = smtp.mailbox.messages
    async with manager() as (_, actor):
        assert message["To"] == actor.email
    assert message["Subject"] == "[Intrex low] Your Intrex digest for 26 Nov 2026"
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    text = parts["text/plain"]
    assert isinstance(text, bytes)
    assert b"Overdue: 1" in text
    assert "• Fire safety certificate (DHK-01), overdue by 2 days".encode() in text

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


async def digest_of(units: ActorUnits, now: datetime) -> DigestSummary:
    async with units(now=now) as (session, actor):
        return await digest_for(session, actor)


async def test_summary_respects_branch_scope(world: World) -> None:
    await add_obligation(world, "VAT return", date(2026, 11, 26), ObligationStatus.due_today)
    outsider = await add_user(world, AppRole.operator, branch=False)
    admin = await add_user(world, AppRole.head_office_admin, branch=False)
    morning = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    as_outsider = await digest_of(outsider, morning)
    as_admin = await digest_of(admin, morning)
    async with world.db.tenant_uow(world.tenant.id) as session:
        total = await session.scalar(select(func.count()).select_from(ObligationInstance))
    assert total == 1
    assert not as_outsider.anything
    assert digest_lines(texts_for("en"), as_outsider.as_payload()) == [
        "Nothing overdue, nothing due this week, every certificate fine."
    ]
    assert as_admin.today == date(2026, 11, 26)
    assert as_admin.due_today == 1
    assert [item.title for item in as_admin.top] == ["VAT return"]


async def test_on_demand_digest_refuses_an_inactive_user(world: World) -> None:
    gone = await add_user(world, AppRole.operator, branch=True)
    async with world.db.tenant_uow(world.tenant.id) as session:
        (await session.get_one(User, gone.user_id)).status = "disabled"
    with pytest.raises(PermissionDeniedError, match="not active") as refused:
        await digest_of(gone, datetime.now(UTC))
    assert refused.value.code is ErrorCode.account_inactive
