"""Escalation through levels on a controllable clock, acknowledgement, quiet hours, Telegram."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from core.audit.models import ActivityLog
from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import AppRole, ConnectorType, NotificationStatus, Severity
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError
from core.notify.ack import AckResult, acknowledge
from core.notify.alerts import list_open_alerts
from core.notify.channels.base import RenderedMessage
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.events import resolve_events
from core.notify.models import Acknowledgement
from core.notify.wiring import build_channels, close_channels
from core.tenancy.models import Tenant, User
from core.tenancy.scope import ActorUnits
from tests.companies import new_branch, new_tenant, person
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import emit, event_of, route, steps_of, webhook
from tests.core.notify.test_channels import email_connector
from tests.peers import SmtpServer, WebhookReceiver


async def add_user(
    world: World,
    role: AppRole,
    *,
    branch: bool,
    chat: int | None = None,
    name: str | None = None,
) -> ActorUnits:
    """A person of the world's tenant, of its branch or of none, with a Telegram chat or not."""
    return await person(
        world.db,
        world.tenant,
        role,
        [world.branch] if branch else [],
        name=name,
        email=f"{uuid.uuid4().hex[:8]}@acme.example",
        telegram_user_id=chat,
    )


async def ack(units: ActorUnits, event_id: uuid.UUID, note: str | None = None) -> AckResult:
    """Acknowledge as the bot's button does: in the person's unit of work."""
    async with units() as (session, actor):
        return await acknowledge(session, actor, event_id, note)


async def test_unacknowledged_alert_climbs_every_level(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    smtp: SmtpServer,
    dispatcher: Dispatcher,
    clock: Clock,
) -> None:
    await webhook(world, box, receiver.url)
    await email_connector(world, box, smtp)
    await route(world, "hook")
    await route(world, "mail", "head.office@acme.example", delay_minutes=30)
    event = await emit(world, clock.now)
    assert event is not None
    assert [(s.level, s.recipient_ref) for s in await steps_of(world, event.id)] == [
        (1, "-"),
        (2, "head.office@acme.example"),
    ]

    await dispatcher.run_once()
    assert (len(receiver.requests), len(smtp.mailbox.messages)) == (1, 0)
    clock.advance(minutes=29)
    assert (await dispatcher.run_once()).claimed == 0
    clock.advance(minutes=2)
    assert (await dispatcher.run_once()).sent == 1
    assert len(smtp.mailbox.messages) == 1


async def test_acknowledging_stops_the_escalation(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    smtp: SmtpServer,
    dispatcher: Dispatcher,
    clock: Clock,
) -> None:
    manager = await add_user(world, AppRole.branch_manager, branch=True)
    await webhook(world, box, receiver.url)
    await email_connector(world, box, smtp)
    await route(world, "hook")
    await route(world, "mail", "head.office@acme.example", delay_minutes=30)
    await route(world, "hook", level=3, delay_minutes=60, severity_min="critical")
    event = await emit(world, clock.now, severity=Severity.critical)
    assert event is not None
    await dispatcher.run_once()
    clock.advance(minutes=31)
    await dispatcher.run_once()
    assert (len(receiver.requests), len(smtp.mailbox.messages)) == (1, 1)

    result = await ack(manager, event.id, "on it")
    assert not result.already
    assert result.event.status is NotificationStatus.acked
    clock.advance(minutes=60)
    assert (await dispatcher.run_once()).claimed == 0
    assert len(receiver.requests) == 1
    statuses = [s.status for s in await steps_of(world, event.id)]
    assert statuses == [NotificationStatus.sent, NotificationStatus.sent]
    assert (await event_of(world, event.id)).status is NotificationStatus.acked


async def test_ack_is_idempotent_scoped_and_audited(
    world: World, box: SecretBox, receiver: WebhookReceiver, clock: Clock
) -> None:
    manager = await add_user(world, AppRole.branch_manager, branch=True, name="Rahim")
    admin = await add_user(world, AppRole.head_office_admin, branch=False)
    elsewhere = await new_branch(world.db, world.tenant, "CTG-01", name="Chattogram")
    outsider = await person(world.db, world.tenant, AppRole.operator, [elsewhere])
    event = await emit(world, clock.now)
    assert event is not None

    async def open_alerts(units: ActorUnits) -> list[uuid.UUID]:
        async with units() as (session, actor):
            return [alert.event_id for alert in await list_open_alerts(session, actor)]

    assert await open_alerts(manager) == [event.id]
    assert await open_alerts(admin) == [event.id]
    assert await open_alerts(outsider) == []
    with pytest.raises(NotFoundError, match="not yours to acknowledge") as refused:
        await ack(outsider, event.id)
    assert refused.value.code is ErrorCode.alert_not_found
    with pytest.raises(NotFoundError):
        await ack(manager, uuid.uuid4())
    first = await ack(manager, event.id, " seen ")
    again = await ack(admin, event.id)
    assert not first.already
    assert again.already
    assert again.acknowledgement.id == first.acknowledgement.id
    assert again.acknowledged_by == "Rahim"
    assert first.acknowledged_by == "Rahim"
    assert first.acknowledgement.ack_note == "seen"
    assert await open_alerts(manager) == []
    assert await open_alerts(admin) == []

    # Head office of another tenant does not see the event at all; a user id presented
    # under another tenant is not found there, so the person is refused before anything.
    other_tenant = await new_tenant(world.db, name="Elsewhere")
    stranger = await person(world.db, other_tenant, AppRole.head_office_admin)
    with pytest.raises(NotFoundError):
        await ack(stranger, event.id)
    with pytest.raises(PermissionDeniedError, match="not active"):
        await ack(ActorUnits(world.db, other_tenant.id, manager.user_id), event.id)
    async with world.db.tenant_uow(world.tenant.id) as session:
        acks = list(await session.scalars(select(Acknowledgement)))
        logs = list(
            await session.scalars(
                select(ActivityLog).where(ActivityLog.action == "alert.acknowledge")
            )
        )
    assert len(acks) == 1
    assert len(logs) == 1
    assert logs[0].user_id == manager.user_id
    assert logs[0].after_json is not None
    assert logs[0].after_json["status"] == "acked"
    assert logs[0].after_json["ack_note"] == "seen"


async def test_quiet_hours_hold_low_alerts_not_critical_ones(
    world: World, box: SecretBox, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    async with world.db.tenant_uow(world.tenant.id) as session:
        await session.execute(
            update(Tenant).values(quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0))
        )
    clock.now = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)  # 23:30 in Dhaka (UTC+6)
    await webhook(world, box, receiver.url)
    await route(world, "hook")
    low = await emit(world, clock.now, severity=Severity.low)
    critical = await emit(world, clock.now, severity=Severity.critical)
    assert low is not None
    assert critical is not None

    report = await dispatcher.run_once()

    assert (report.sent, report.deferred) == (1, 1)
    [held] = await steps_of(world, low.id)
    assert held.next_attempt_at == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 07:00 Dhaka
    assert held.status is NotificationStatus.queued
    clock.now = datetime(2026, 11, 27, 1, 0, 1, tzinfo=UTC)
    assert (await dispatcher.run_once()).sent == 1
    assert len(receiver.requests) == 2


@dataclass
class RecordingTelegram:
    """The TelegramSender contract as bot/ fulfils it, recording instead of calling the Bot API."""

    sent: list[tuple[int, str, uuid.UUID]] = field(default_factory=list)
    edited: list[tuple[int, int, str]] = field(default_factory=list)

    async def send_alert(
        self, chat_id: int, message: RenderedMessage, *, event_id: uuid.UUID, acknowledgeable: bool
    ) -> int:
        self.sent.append((chat_id, message.text, event_id))
        return len(self.sent)

    async def edit_alert(self, chat_id: int, message_id: int, text: str) -> None:
        self.edited.append((chat_id, message_id, text))


async def test_telegram_routes_resolve_people_in_scope(
    world: World, box: SecretBox, settings: Settings, clock: Clock
) -> None:
    manager = await add_user(world, AppRole.branch_manager, branch=True, chat=7001)
    await add_user(world, AppRole.branch_manager, branch=False, chat=7002)
    invited = await add_user(world, AppRole.operator, branch=True, chat=None)
    spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
    await add_connector(world.db, box, world.tenant, spec, allow_private=False)
    await route(world, "tg", "role:branch_manager")
    await route(world, "tg", "role:operator")
    event = await emit(world, clock.now)
    assert event is not None
    telegram = RecordingTelegram()
    channels: dict[Any, Any] = build_channels(settings, telegram)
    try:
        dispatcher = Dispatcher(world.db, settings, box, channels, clock=clock)
        report = await dispatcher.run_once()
    finally:
        await close_channels(channels)

    assert (report.sent, report.dead) == (1, 0)
    assert [(chat, event_id) for chat, _, event_id in telegram.sent] == [(7001, event.id)]
    steps = {s.recipient_ref: s for s in await steps_of(world, event.id)}
    people = {ref for ref in steps if ref.startswith("user:")}
    assert people == {f"user:{manager.user_id}"}
    assert f"user:{invited.user_id}" not in people
    assert steps["role:branch_manager"].last_error == "resolved when due"
    waiting = steps["role:operator"]
    assert waiting.status is NotificationStatus.queued
    assert waiting.last_error == "nobody to reach: no linked operator in " + world.branch.code


async def test_a_person_who_never_linked_is_waited_for_then_a_dead_letter_with_the_reason(
    world: World, box: SecretBox, settings: Settings, clock: Clock
) -> None:
    invited = await add_user(world, AppRole.operator, branch=True, chat=None)
    spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
    await add_connector(world.db, box, world.tenant, spec, allow_private=False)
    async with world.db.tenant_uow(world.tenant.id) as session:
        email = await session.scalar(select(User.email).where(User.id == invited.user_id))
    assert email is not None
    await route(world, "tg", email)
    event = await emit(world, clock.now)
    assert event is not None
    channels: dict[Any, Any] = build_channels(settings, RecordingTelegram())
    dispatcher = Dispatcher(world.db, settings, box, channels, clock=clock)
    reason = f"nobody to reach: {email} is not a linked, active user"
    try:
        first = await dispatcher.run_once()
        [waiting] = await steps_of(world, event.id)
        assert (first.sent, first.dead, waiting.status) == (0, 0, NotificationStatus.queued)
        assert waiting.last_error == reason
        clock.now += timedelta(minutes=61)
        await dispatcher.run_once()
    finally:
        await close_channels(channels)

    [dead] = await steps_of(world, event.id)
    assert (dead.status, dead.last_error) == (NotificationStatus.dead_letter, reason)
    assert (await event_of(world, event.id)).status is NotificationStatus.dead_letter


async def test_a_cause_that_went_away_stops_the_escalation(
    world: World,
    box: SecretBox,
    receiver: WebhookReceiver,
    dispatcher: Dispatcher,
    clock: Clock,
) -> None:
    await webhook(world, box, receiver.url)
    await webhook(world, box, receiver.url, name="escalation")
    await route(world, "hook")
    await route(world, "escalation", delay_minutes=30)
    event = await emit(world, clock.now, fingerprint="ssl_failure:shop:episode-1")
    assert event is not None
    await dispatcher.run_once()

    async with world.db.tenant_uow(world.tenant.id) as session:
        closed = await resolve_events(
            session,
            tenant_id=world.tenant.id,
            fingerprint="ssl_failure:shop:episode-1",
            resolution="recovered",
        )
    clock.advance(minutes=31)

    assert closed == 1
    assert (await dispatcher.run_once()).claimed == 0
    assert len(receiver.requests) == 1
    assert (await event_of(world, event.id)).status is NotificationStatus.cancelled
    assert [s.status for s in await steps_of(world, event.id)] == [
        NotificationStatus.sent,
        NotificationStatus.cancelled,
    ]
    # An alert whose cause went away is no one's to acknowledge any more.
    admin = await add_user(world, AppRole.head_office_admin, branch=False)
    with pytest.raises(NotFoundError, match="not yours to acknowledge"):
        await ack(admin, event.id)
