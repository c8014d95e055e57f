"""Every SPEC §3 flow through a real aiogram session, as several users of two tenants."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.callbacks import AlertButton, ObligationButton
from core.db.enums import (
    AppRole,
    NotificationEventType,
    NotificationStatus,
    ObligationStatus,
    Severity,
)
from core.notify.events import emit_event
from core.notify.models import Acknowledgement, NotificationEvent
from core.obligations.models import ObligationDocument, ObligationInstance
from core.ssl.models import Domain
from core.tenancy.models import User
from tests.bot.conftest import BotWorld, Conversation, deliver, member, telegram_alerts
from tests.companies import PDF, company, invite, obligation
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers


async def instance(
    world: BotWorld, tenant_id: uuid.UUID, instance_id: uuid.UUID
) -> ObligationInstance:
    async with world.db.tenant_uow(tenant_id) as session:
        return await session.get_one(ObligationInstance, instance_id)


async def test_invite_link_and_help(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    issued = await invite(world.db, acme.tenant, AppRole.operator, ["DHK-01"])
    stranger = Conversation(world, name="Karim")

    assert "not linked" in await stranger.send("/obligations")
    assert "not valid" in await stranger.send("/start not-a-real-code-at-all")
    reply = await stranger.send(f"/start {issued.code}")
    assert reply.startswith("✅ Linked to Acme!")
    assert "You are an operator of Acme for DHK-01." in reply
    assert "/obligations" in reply
    assert "/adddomain" not in reply
    assert "already been used" in await Conversation(world).send(f"/start {issued.code}")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        linked = await session.scalar(
            select(User).where(User.telegram_user_id == stranger.telegram_id)
        )
    assert linked is not None
    assert linked.role is AppRole.operator
    assert (linked.full_name, linked.telegram_name) == (None, "Karim")


async def test_list_upload_proof_and_complete(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(
        world.db, acme, acme.dhaka, "Fire <safety> certificate", due_in_days=-2, proof=True
    )
    await obligation(world.db, acme, acme.chattogram, "Not my branch", due_in_days=1, proof=False)

    listing = await operator.send("/obligations")
    assert "Fire &lt;safety&gt; certificate" in listing
    assert "overdue by 2 days" in listing
    assert "Not my branch" not in listing
    assert "✋" not in str(operator.buttons())

    complete = ObligationButton(action="complete", id=fire.hex).pack()
    assert "needs proof" in await operator.press(complete)
    assert "Send the proof" in await operator.press(
        ObligationButton(action="proof", id=fire.hex).pack()
    )
    stored = await operator.send_document(PDF, "licence.pdf")
    assert "Stored “licence.pdf”" in stored
    assert "Completed" in await operator.press_labelled("Complete now")
    done = await instance(world, acme.tenant.id, fire)
    assert done.status is ObligationStatus.completed
    assert done.completed_by_user_id is not None
    async with world.db.tenant_uow(acme.tenant.id) as session:
        documents = list(await session.scalars(select(ObligationDocument)))
    assert [d.filename for d in documents] == ["licence.pdf"]
    assert "already completed" in await operator.press(complete)


async def test_bad_proof_is_refused_and_the_upload_can_go_on(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=True)
    await operator.press(ObligationButton(action="proof", id=fire.hex).pack())

    refused = await operator.send_document(b"MZ\x90\x00" + b"\x00" * 200, "invoice.pdf")
    assert "not" in refused.lower()
    too_big = await operator.send_document(b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024), "big.pdf")
    assert "the limit is 1.0 MiB" in too_big or "limit" in too_big
    assert "Stored" in await operator.send_document(PDF, "ok.pdf")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        assert len(list(await session.scalars(select(ObligationDocument)))) == 1


async def test_waive_as_manager_refused_as_operator(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    vat = await obligation(world.db, acme, acme.dhaka, "VAT return", due_in_days=5, proof=False)
    waive = ObligationButton(action="waive", id=vat.hex).pack()

    assert "Only branch managers" in await operator.press(waive)
    assert (await instance(world, acme.tenant.id, vat)).status is ObligationStatus.upcoming

    await manager.send("/obligations")
    assert any("✋" in text for text, _ in manager.buttons())
    assert "Why is" in await manager.press(waive)
    assert "Waived" in await manager.send("Branch closed for <renovation>")
    waived = await instance(world, acme.tenant.id, vat)
    assert waived.status is ObligationStatus.waived
    assert waived.waive_reason == "Branch closed for <renovation>"


async def test_ssl_alert_delivered_with_its_button_and_acknowledged(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=acme.tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.critical,
            fingerprint="ssl_failure:shop",
            payload={
                "host": "shop.acme.example",
                "port": 443,
                "status": "expired",
                "branch": "DHK-01",
            },
            branch_id=acme.dhaka.id,
        )
    assert event is not None
    report = await deliver(world, box)
    assert report.sent == 1
    alert = manager.last_message()
    assert "Certificate check failed: shop.acme.example" in alert["text"]
    ack = AlertButton(action="ack", id=event.id.hex).pack()
    assert ("✅ Acknowledge", ack) in manager.buttons(alert)

    await manager.press(ack, alert)
    edited = manager.last_message()
    assert "✅ Acknowledged by Mina on" in edited["text"]
    assert "reply_markup" not in edited
    assert "Already acknowledged" in await manager.press(ack, alert)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        assert (
            await session.get_one(NotificationEvent, event.id)
        ).status is NotificationStatus.acked
        assert len(list(await session.scalars(select(Acknowledgement)))) == 1


async def test_domain_added_by_admin_refused_for_operator(
    world: BotWorld, pki: Pki, tls_servers: LoopbackServers
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    leaf = pki.leaf("shop.intrex.test")
    endpoint = tls_servers.tls(pki.server_context(leaf, pki.intermediate))
    target = f"shop.intrex.test:{endpoint.port}"

    assert "Only head office" in await operator.send(f"/adddomain {target}")
    reply = await admin.send(f"/adddomain {target} DHK-01")
    assert "Now monitoring" in reply
    assert "🟢" in reply
    assert ": valid" in reply
    assert "is already monitored" in await admin.send(f"/adddomain {target}")
    domains = await operator.send("/domains")
    assert f"shop.intrex.test:{endpoint.port} [DHK-01]: valid" in domains
    assert "Usage: /adddomain" in await admin.send("/adddomain")
    assert "Stopped monitoring" in await admin.send(f"/removedomain {target}")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        assert list(await session.scalars(select(Domain))) == []


async def test_forged_callbacks_for_another_tenant_are_refused(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    rival = await company(world.db, "Rival")
    manager = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    theirs = await obligation(
        world.db, rival, rival.dhaka, "Rival licence", due_in_days=1, proof=False
    )
    async with world.db.tenant_uow(rival.tenant.id) as session:
        their_event = await emit_event(
            session,
            tenant_id=rival.tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.high,
            fingerprint="x",
            payload={"host": "rival.example"},
        )
    assert their_event is not None
    await manager.send("/help")

    for action in ("complete", "details", "waive", "proof", "reopen"):
        reply = await manager.press(ObligationButton(action=action, id=theirs.hex).pack())
        assert "not found" in reply.lower() or "no such" in reply.lower(), (action, reply)
    reply = await manager.press(AlertButton(action="ack", id=their_event.id.hex).pack())
    assert "not yours to acknowledge" in reply
    assert "No such obligation" in await manager.press("ob:complete:not-hex")
    assert "no longer valid" in await manager.press("zz:whatever")
    assert (await instance(world, rival.tenant.id, theirs)).status is ObligationStatus.upcoming
    async with world.db.tenant_uow(rival.tenant.id) as session:
        assert (
            await session.get_one(NotificationEvent, their_event.id)
        ).status is not NotificationStatus.acked


async def test_restart_in_the_middle_of_a_proof_upload(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(
        world.db, acme, acme.dhaka, "Fire extinguishers", due_in_days=0, proof=True
    )
    await operator.press(ObligationButton(action="proof", id=fire.hex).pack())

    world.restart()

    assert "Stored" in await operator.send_document(PDF, "after-restart.pdf")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        [document] = list(await session.scalars(select(ObligationDocument)))
    assert document.obligation_instance_id == fire


async def test_alerts_list_digest_invite_and_note(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=acme.tenant.id,
            event_type=NotificationEventType.ssl_expiry,
            severity=Severity.medium,
            fingerprint="exp",
            payload={"host": "old.acme.example", "days_remaining": 7},
        )
    assert event is not None
    listing = await admin.send("/alerts")
    assert "Certificate expiring: old.acme.example" in listing
    assert "📝 With a note" not in listing
    assert "Reply with your note" in await admin.press(
        AlertButton(action="lnote", id=event.id.hex).pack()
    )
    assert "✅ Acknowledged by Hasan" in await admin.send("renewal ordered")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        ack = await session.scalar(select(Acknowledgement))
    assert ack is not None
    assert ack.ack_note == "renewal ordered"
    assert "No unacknowledged alerts" in await admin.send("/alerts")

    await obligation(world.db, acme, acme.dhaka, "Trade licence", due_in_days=0, proof=False)
    digest = await admin.send("/digest")
    assert "Due today: 1" in digest

    invite = await admin.send("/invite operator CTG-02")
    assert "https://t.me/intrex_test_bot?start=" in invite
    assert "Unknown role “emperor”" in await admin.send("/invite emperor")
    assert "I did not understand" in await admin.send("hello there")
