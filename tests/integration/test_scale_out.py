"""Two `intrex run --no-bot` processes, one database, an accelerated clock, many rounds:
every certificate check, reminder, escalation step and delivery happens exactly once, and
when an obligation is completed, each Telegram copy of its alert is edited exactly once."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from core.crypto import SecretBox, generate_key
from core.db.enums import (
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    Severity,
)
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.models import (
    NotificationDelivery,
    NotificationEvent,
    NotificationStep,
    TelegramEdit,
)
from core.notify.recipients import RESOLVED
from core.notify.routes import add_route
from core.obligations.actions import complete_obligation
from core.obligations.models import ObligationInstance
from core.obligations.recurrence import Recurrence
from core.obligations.templates import TemplateSpec, create_template
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.scope import console_unit
from tests.companies import new_branch, new_tenant, person
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import loopback_servers
from tests.integration.workers import start, worker_env
from tests.peers import WebhookReceiver
from tests.telegram_stub import TelegramStub
from tests.waiting import eventually

SPEED = 120
"""One real second is two simulated minutes."""
INTERVAL_MINUTES = 10
RUN_SECONDS = 30
DOMAINS = 4
MANAGER_CHATS = (9_500_001, 9_500_002)


async def all_steps_sent(db: Database, tenant_id: uuid.UUID) -> bool:
    """Every planned step delivered (escalations fall due up to 30 simulated minutes late);
    a Telegram route's reference step is done once it became its people's steps."""
    async with db.tenant_uow(tenant_id) as session:
        total, unsent = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(
                        NotificationStep.status != NotificationStatus.sent,
                        NotificationStep.last_error.is_distinct_from(RESOLVED),
                    ),
                )
            )
        ).one()
    return bool(total) and unsent == 0


async def unsent(db: Database, tenant_id: uuid.UUID) -> list[tuple[str, str, str | None]]:
    """The steps not delivered, for the failure message."""
    async with db.tenant_uow(tenant_id) as session:
        rows = await session.execute(
            select(
                NotificationStep.recipient_ref, NotificationStep.status, NotificationStep.last_error
            ).where(
                NotificationStep.status != NotificationStatus.sent,
                NotificationStep.last_error.is_distinct_from(RESOLVED),
            )
        )
        return [(ref, status.value, error) for ref, status, error in rows]


async def all_copies_edited(db: Database, tenant_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    async with db.tenant_uow(tenant_id) as session:
        statuses = list(
            await session.scalars(
                select(TelegramEdit.status).where(TelegramEdit.notification_event_id == event_id)
            )
        )
    return bool(statuses) and set(statuses) == {"done"}


async def test_two_workers_do_everything_exactly_once(
    private_target: DatabaseTarget, private_db: Database, tmp_path: Path
) -> None:
    target, db = private_target, private_db
    key = generate_key()
    box = SecretBox([key])
    pki = Pki(tmp_path / "pki")
    receiver = WebhookReceiver()
    await receiver.start()
    stub = TelegramStub()
    await stub.start()
    epoch = time.time()
    with loopback_servers() as servers:
        leaf = pki.leaf("localhost", days_valid=10)
        ports = [
            servers.tls(pki.server_context(leaf, pki.intermediate)).port for _ in range(DOMAINS)
        ]
        tenant = await new_tenant(db, "UTC", name="Scale Co")
        branch = await new_branch(db, tenant, "HQ", name="HQ")
        async with db.tenant_uow(tenant.id) as session:
            session.add_all(
                Domain(
                    tenant_id=tenant.id,
                    branch_id=branch.id,
                    hostname="localhost",
                    port=port,
                    next_check_at=datetime.fromtimestamp(epoch, UTC),
                )
                for port in ports
            )
        async with console_unit(db, tenant.id) as (session, actor):
            await create_template(
                session,
                actor,
                TemplateSpec(
                    category=ObligationCategory.fire_safety,
                    title="Fire certificate",
                    recurrence=Recurrence.none,
                    severity=Severity.high,
                    anchor_date=datetime.now(UTC).date() + timedelta(days=3),
                    branch_id=branch.id,
                ),
            )
        hooks = []
        for name in ("first", "escalation"):
            spec = ConnectorSpec(type=ConnectorType.webhook, name=name, url=receiver.url)
            added = await add_connector(db, box, tenant, spec, allow_private=True)
            hooks.append(added.connector.id)
        spec = ConnectorSpec(type=ConnectorType.telegram_bot, name="tg")
        await add_connector(db, box, tenant, spec, allow_private=True)
        await add_route(
            db,
            tenant,
            connector_name="tg",
            event_type="all",
            severity_min="low",
            recipient="role:branch_manager",
        )
        for chat in MANAGER_CHATS:
            await person(db, tenant, AppRole.branch_manager, [branch], telegram_user_id=chat)
        admin = await person(db, tenant, AppRole.head_office_admin, name="Admin")
        await add_route(
            db, tenant, connector_name="first", event_type="all", severity_min="low", recipient="-"
        )
        await add_route(
            db,
            tenant,
            connector_name="escalation",
            event_type="all",
            severity_min="low",
            recipient="-",
            delay_minutes=30,
        )
        env = worker_env(
            target,
            key,
            INTREX_CLOCK_SPEED=str(SPEED),
            INTREX_CLOCK_EPOCH=str(epoch),
            SCHEDULER_TICK_SECONDS="0.3",
            SSL_CHECK_INTERVAL_MINUTES=str(INTERVAL_MINUTES),
            SSL_CA_FILE=str(pki.ca_file),
            SSL_TIMEOUT_SECONDS="5",
            NOTIFY_POLL_SECONDS="0.1",
            BOT_TOKEN="123456:TEST-TOKEN-not-real",
            TELEGRAM_API_URL=stub.base_url,
        )
        # In threads: the receiver and the Bot API stand-in answer on this loop meanwhile.
        started = await asyncio.gather(
            *(asyncio.to_thread(start, env, tmp_path / f"w{i}.log", "--no-bot") for i in range(2))
        )
        workers = [worker for worker, _ in started]
        try:
            await receiver.wait_for(lambda: False, RUN_SECONDS)
            assert await eventually(lambda: all_steps_sent(db, tenant.id), 60), await unsent(
                db, tenant.id
            )
            async with admin() as (session, actor):
                instance = await session.scalar(select(ObligationInstance.id))
                assert instance is not None
                await complete_obligation(session, actor, instance)
                due = await session.scalar(
                    select(NotificationEvent.id).where(
                        NotificationEvent.event_type == NotificationEventType.obligation_due
                    )
                )
            assert due is not None
            assert await eventually(lambda: all_copies_edited(db, tenant.id, due), 60)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
    stopped_at = datetime.fromtimestamp(epoch + (time.time() - epoch) * SPEED, UTC)
    await receiver.stop()
    await stub.stop()
    assert [w.returncode for w in workers] == [0, 0], (tmp_path / "w0.log").read_text()[-2000:]

    async with db.tenant_uow(tenant.id) as session:
        checks = (
            await session.execute(
                select(SslCheckResult.domain_id, SslCheckResult.checked_at).order_by(
                    SslCheckResult.domain_id, SslCheckResult.checked_at
                )
            )
        ).all()
        events = list(await session.scalars(select(NotificationEvent)))
        steps = list(
            await session.scalars(
                select(NotificationStep).where(NotificationStep.connector_id.in_(hooks))
            )
        )
        people = list(
            await session.scalars(
                select(NotificationStep).where(NotificationStep.recipient_ref.startswith("user:"))
            )
        )
        copies: list[tuple[int, int]] = list(
            await session.execute(
                select(
                    NotificationDelivery.telegram_chat_id, NotificationDelivery.telegram_message_id
                ).where(
                    NotificationDelivery.notification_event_id == due,
                    NotificationDelivery.telegram_message_id.is_not(None),
                )
            )
        )
        sent_per_step = dict(
            (
                await session.execute(
                    select(NotificationDelivery.step_id, func.count())
                    .where(NotificationDelivery.delivery_status == NotificationStatus.sent)
                    .group_by(NotificationDelivery.step_id)
                )
            ).all()
        )

    by_domain: dict[object, list[datetime]] = {}
    for domain_id, checked_at in checks:
        by_domain.setdefault(domain_id, []).append(checked_at)
    assert len(by_domain) == DOMAINS
    # From a domain's first check (the workers' start-up is minutes of simulated time) to
    # the stop: never more rounds than the interval allows (no check twice), and never far
    # fewer: a round may start late by a tick plus the previous check's own time, which at
    # SPEED is minutes of simulated time on a busy machine, so the floor allows half more.
    for times in by_domain.values():
        window = (stopped_at - times[0]).total_seconds() / 60
        gaps = [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(times)]
        fewest, most = window / (INTERVAL_MINUTES * 1.5), window / INTERVAL_MINUTES + 1
        assert fewest <= len(times) <= most, (len(times), window, gaps)
        assert min(gaps) >= INTERVAL_MINUTES * 0.9, gaps

    # Alerts go to the webhooks and the managers; the daily digest (which falls due when
    # the simulated clock passes DIGEST_LOCAL_TIME, so on some runs only) goes to people.
    alerts = [event for event in events if event.event_type is not NotificationEventType.digest]
    digests = {event.id for event in events} - {event.id for event in alerts}
    kinds = sorted(event.event_type for event in alerts)
    assert kinds.count(NotificationEventType.ssl_expiry) == DOMAINS
    assert kinds.count(NotificationEventType.obligation_due) == 1
    assert len({event.fingerprint for event in events}) == len(events)
    assert len(digests) <= len(MANAGER_CHATS) + 1  # at most one a person (fingerprints above)

    assert len(steps) == 2 * len(alerts)
    assert {step.level for step in steps} == {1, 2}
    assert all(step.status is NotificationStatus.sent for step in steps)
    assert all(sent_per_step.get(step.id) == 1 for step in steps)
    keys = receiver.by_key()
    assert len(keys) == len(steps)
    assert set(keys.values()) == {1}

    alert_people = [step for step in people if step.notification_event_id not in digests]
    assert len(alert_people) == len(MANAGER_CHATS) * len(alerts)
    assert all(sent_per_step.get(step.id) == 1 for step in people)
    assert len(copies) == len(MANAGER_CHATS)
    edits = [
        (int(call.params["chat_id"]), int(call.params["message_id"]))
        for call in stub.sent("editMessageText")
    ]
    assert sorted(edits) == sorted((chat, message) for chat, message in copies)
