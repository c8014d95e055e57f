"""Every Telegram copy of an alert follows it (SPEC §4): acknowledged from one chat, all
copies say so; the cause resolved, every copy says how and by whom; `/alerts` empties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.callbacks import AlertButton, ObligationButton
from core.db.enums import AppRole
from core.notify.models import NotificationDelivery, TelegramEdit
from core.notify.routes import add_route
from core.obligations.clock import run_obligation_clock
from tests.bot.conftest import BotWorld, Conversation, deliver, member, ssl_alert, telegram_alerts
from tests.companies import Company, company, obligation


def alert_in(person: Conversation, needle: str) -> dict[str, Any]:
    """The first message in the chat that mentions `needle`: the delivered alert."""
    return next(m for m in person.messages() if needle in m.get("text", ""))


async def test_acknowledging_in_one_chat_edits_the_copies_in_the_others(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    managers = [
        await member(world, acme, AppRole.branch_manager, acme.dhaka, name)
        for name in ("Mina", "Jamal", "Rafi")
    ]
    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    event = await ssl_alert(world, acme, "ssl_failure:shop:copies")
    assert (await deliver(world, box)).sent == 3
    async with world.db.tenant_uow(acme.tenant.id) as session:
        copies = list(
            await session.scalars(
                select(NotificationDelivery.telegram_message_id).where(
                    NotificationDelivery.notification_event_id == event.id
                )
            )
        )
    assert len(copies) == 3
    assert all(copies)

    first = alert_in(managers[0], "shop.acme.example")
    await managers[0].press(AlertButton(action="ack", id=event.id.hex).pack(), first)
    report = await deliver(world, box)

    assert report.edited == 2
    for manager in managers:
        shown = alert_in(manager, "shop.acme.example")
        assert "✅ Acknowledged by Mina on" in shown["text"]
        assert "reply_markup" not in shown
    async with world.db.tenant_uow(acme.tenant.id) as session:
        edits = list(await session.scalars(select(TelegramEdit.status)))
    assert sorted(edits) == ["done", "done", "done"]
    assert (await deliver(world, box)).edited == 0


async def test_completing_the_obligation_edits_the_delivered_copies_and_empties_alerts(
    world: BotWorld,
) -> None:
    acme: Company = await company(world.db, "Acme")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Jamal")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    box = await telegram_alerts(world, acme, event_type="obligation_due", severity_min="low")
    await add_route(
        world.db,
        acme.tenant,
        connector_name="tg",
        event_type="obligation_due",
        severity_min="low",
        recipient="role:operator",
    )
    vat = await obligation(world.db, acme, acme.dhaka, "VAT return", due_in_days=0, proof=False)
    await run_obligation_clock(world.db, now=datetime.now(UTC))
    assert (await deliver(world, box)).sent == 2
    assert "VAT return" in await manager.send("/alerts")

    await operator.press(ObligationButton(action="complete", id=vat.hex).pack())
    report = await deliver(world, box)

    assert report.edited == 2
    for person in (manager, operator):
        shown = alert_in(person, "VAT return")
        assert "✅ Resolved: completed by Opu at" in shown["text"]
        assert "reply_markup" not in shown
    assert "No unacknowledged alerts" in await manager.send("/alerts")
    assert "No unacknowledged alerts" in await operator.send("/alerts")
