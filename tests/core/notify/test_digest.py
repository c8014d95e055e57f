"""The daily digest: one per user per local day, only with news, to the user's own channel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.message import Message

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import create_bot
from bot.telegram import BotTelegramSender
from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import (
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    ObligationStatus,
    Severity,
)
from core.digest.service import DigestSummary, digest_for, run_digest
from core.errors import ErrorCode, PermissionDeniedError
from core.i18n import texts_for
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.models import NotificationEvent
from core.notify.render import digest_lines
from core.notify.wiring import build_channels, close_channels
from core.obligations.actions import waive_obligation
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.tenancy.models import User
from core.tenancy.scope import ActorUnits
from tests.core.notify.conftest import Clock, World
from tests.core.notify.test_channels import email_connector
from tests.core.notify.test_escalation import add_user
from tests.peers import SmtpServer
from tests.telegram_stub import TelegramStub, utf16_length


async def add_obligation(
    world: World, title: str, due: date, status: ObligationStatus
) -> uuid.UUID:
    async with world.db.tenant_uow(world.tenant.id) as session:
        template = ObligationTemplate(
            tenant_id=world.tenant.id,
            category=ObligationCategory.fire_safety,
            title=title,
            severity=Severity.high,
        )
        session.add(template)
        await session.flush()
        instance = ObligationInstance(
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
        session.add(instance)
        await session.flush()
        return instance.id


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
        return await digest_for(session, actor, now=now)


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


DHAKA_MORNING = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
"""08:30 in Dhaka: today's digest covers the waivers from 25 Nov 08:00 to 26 Nov 08:00."""


async def waive(units: ActorUnits, instance_id: uuid.UUID, reason: str, at: datetime) -> None:
    async with units(now=at) as (session, actor):
        await waive_obligation(session, actor, instance_id, reason, now=at)


async def speaks(world: World, units: ActorUnits, language: str) -> None:
    async with world.db.tenant_uow(world.tenant.id) as session:
        (await session.get_one(User, units.user_id)).language = language


def plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True)
            assert isinstance(body, bytes)
            return body.decode().replace("\r\n", "\n")
    raise AssertionError("no text part")


async def test_head_office_digest_lists_the_days_waivers_with_who_and_why(
    world: World, box: SecretBox, smtp: SmtpServer, settings: Settings, dispatcher: Dispatcher
) -> None:
    today = date(2026, 11, 26)
    manager = await add_user(world, AppRole.branch_manager, branch=True, name="Karim Ahmed")
    admin_en = await add_user(world, AppRole.head_office_admin, branch=False, name="Nadia")
    admin_bn = await add_user(world, AppRole.head_office_admin, branch=False, name="Rafiq")
    await speaks(world, admin_bn, "bn")
    await email_connector(world, box, smtp)
    await add_obligation(world, "Trade licence", today, ObligationStatus.due_today)
    early, vat, late = [
        await add_obligation(world, title, today + timedelta(days=3), ObligationStatus.upcoming)
        for title in ("Fire drill", "VAT return", "Boiler inspection")
    ]
    await waive(manager, early, "Done last week", datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    await waive(
        manager,
        vat,
        "Branch closed for renovation;   filed by head office",
        datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
    )
    await waive(manager, late, "Inspector postponed", datetime(2026, 11, 26, 2, 10, tzinfo=UTC))

    assert (await run_digest(world.db, settings, now=DHAKA_MORNING)).emitted == 3

    payloads = {event.payload_json["user_id"]: event.payload_json for event in await digests(world)}
    assert "waivers" not in payloads[manager.user_id]
    for admin in (admin_en, admin_bn):
        assert payloads[admin.user_id]["waivers_total"] == 1
        assert payloads[admin.user_id]["waivers"] == [
            {
                "title": "VAT return",
                "branch": "DHK-01",
                "by": "Karim Ahmed",
                "reason": "Branch closed for renovation; filed by head office",
                "waived_at": "2026-11-25T09:00:00+00:00",
            }
        ]

    dispatcher.clock = Clock()
    dispatcher.clock.now = DHAKA_MORNING
    assert (await dispatcher.run_once()).sent == 3
    mail = {message["To"]: plain_text(message) for message in smtp.mailbox.messages}
    async with admin_en() as (_, actor):
        english = mail[actor.email]
    async with admin_bn() as (_, actor):
        bengali = mail[actor.email]
    async with manager() as (_, actor):
        managers = mail[actor.email]
    assert "\nWaived in the last 24 hours: 1\n" in english
    assert (
        "• VAT return (DHK-01), waived by Karim Ahmed: "
        "Branch closed for renovation; filed by head office\n"
    ) in english
    assert "\nগত ২৪ ঘণ্টায় মওকুফ: ১\n" in bengali
    assert (
        "• VAT return (DHK-01), Karim Ahmed মওকুফ করেছেন: "
        "Branch closed for renovation; filed by head office\n"
    ) in bengali
    assert "Karim Ahmed" not in managers

    on_demand = await digest_of(admin_en, DHAKA_MORNING)
    assert [waiver.title for waiver in on_demand.waivers] == ["Boiler inspection", "VAT return"]
    assert (await digest_of(manager, DHAKA_MORNING)).waivers_total == 0

    assert (await run_digest(world.db, settings, now=DHAKA_MORNING + timedelta(days=1))).emitted
    tomorrow = [
        event.payload_json
        for event in await digests(world)
        if event.payload_json["user_id"] == admin_en.user_id
        and event.payload_json["today"] == "2026-11-27"
    ]
    assert [[w["title"] for w in payload["waivers"]] for payload in tomorrow] == [
        ["Boiler inspection"]
    ]


@pytest.fixture
async def stub() -> AsyncIterator[TelegramStub]:
    server = TelegramStub()
    await server.start()
    yield server
    await server.stop()


async def add_waived(world: World, by: ActorUnits, count: int, reason: str, at: datetime) -> None:
    """`count` obligations of the world's branch waived by `by` at `at`, through the models."""
    async with world.db.tenant_uow(world.tenant.id) as session:
        template = ObligationTemplate(
            tenant_id=world.tenant.id,
            category=ObligationCategory.tax_vat,
            title="Monthly VAT return",
            severity=Severity.high,
        )
        session.add(template)
        await session.flush()
        for number in range(count):
            due = date(2026, 1, 1) + timedelta(days=number)
            session.add(
                ObligationInstance(
                    tenant_id=world.tenant.id,
                    branch_id=world.branch.id,
                    template_id=template.id,
                    category=template.category,
                    title=f"Monthly VAT return #{number}",
                    severity=template.severity,
                    status=ObligationStatus.waived,
                    due_at=due,
                    series_date=due,
                    waived_at=at + timedelta(seconds=number),
                    waived_by_user_id=by.user_id,
                    waive_reason=reason,
                )
            )


async def test_many_waivers_fit_one_telegram_message_with_the_rest_counted(
    world: World, box: SecretBox, settings: Settings, stub: TelegramStub
) -> None:
    manager = await add_user(world, AppRole.branch_manager, branch=True, name="Karim Ahmed")
    await add_user(world, AppRole.head_office_admin, branch=False, chat=7001)
    admin_bn = await add_user(world, AppRole.head_office_admin, branch=False, chat=7002)
    await speaks(world, admin_bn, "bn")
    spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
    await add_connector(world.db, box, world.tenant, spec, allow_private=True)
    reason = "Filed on paper at the <VAT> office & stamped. " * 25
    await add_waived(world, manager, 40, reason, datetime(2026, 11, 25, 9, 0, tzinfo=UTC))

    assert (await run_digest(world.db, settings, now=DHAKA_MORNING)).emitted == 2

    telegram = settings.model_copy(
        update={
            "bot_token": SecretStr("123456:TEST-TOKEN-not-real"),
            "telegram_api_url": stub.base_url,
        }
    )
    bot = create_bot(telegram)
    channels = build_channels(telegram, BotTelegramSender(bot))
    clock = Clock()
    clock.now = DHAKA_MORNING
    try:
        dispatcher = Dispatcher(world.db, telegram, box, channels, worker_id="digest", clock=clock)
        assert (await dispatcher.run_once()).sent == 2
    finally:
        await close_channels(channels)
        await bot.session.close()

    for chat, language in ((7001, "en"), (7002, "bn")):
        [sent] = stub.texts(chat)
        assert utf16_length(sent) <= 4096
        lines = sent.splitlines()
        shown = [line for line in lines if line.startswith("• Monthly VAT return #")]
        assert len(shown) >= 5
        assert all(line.endswith("…") for line in shown)
        assert "&lt;VAT&gt; office &amp; stamped" in shown[0]
        texts = texts_for(language)
        more = texts.gettext("… and {count} more").format(count=texts.number(40 - len(shown)))
        assert lines[-1] == more
        assert shown[0].startswith("• Monthly VAT return #39 (DHK-01)")
