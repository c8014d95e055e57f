"""The chat edge's fixes, each shown through the real dispatcher and the strict stand-in.

Each test failed before its fix: forged page numbers went unanswered, dates were in UTC,
Waive on a completed item blamed the role, uploads ignored the injected settings and
trusted Telegram's declared size, names kept bidi overrides, a file sent unasked was not
understood, a long Details broke Telegram's limit, an upload landed on an obligation
completed meanwhile, wrong /start codes were unlimited, and a download cut short was lost.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.app import create_dispatcher
from bot.callbacks import ObligationButton
from bot.i18n import CatalogueI18n
from bot.uploads import PendingUploads
from core.db.enums import AppRole
from core.obligations.actions import complete_obligation
from core.obligations.models import ObligationDocument, PendingUpload
from core.storage import local_storage
from core.tenancy.models import User
from core.tenancy.scope import ActorUnits
from tests.bot.conftest import RESOLVER, BotWorld, Conversation, member
from tests.companies import PDF, company, obligation


async def units_of(world: BotWorld, tenant_id: uuid.UUID, person: Conversation) -> ActorUnits:
    async with world.db.tenant_uow(tenant_id) as session:
        user_id = await session.scalar(
            select(User.id).where(User.telegram_user_id == person.telegram_id)
        )
    assert user_id is not None
    return ActorUnits(world.db, tenant_id, user_id)


async def documents_of(world: BotWorld, tenant_id: uuid.UUID, instance: uuid.UUID) -> list[str]:
    async with world.db.tenant_uow(tenant_id) as session:
        return list(
            await session.scalars(
                select(ObligationDocument.filename).where(
                    ObligationDocument.obligation_instance_id == instance
                )
            )
        )


async def test_forged_page_numbers_are_answered_not_crashed(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    for forged in ("op:all:99999999999999999999", "op:all:-1", "op:all:10001", "op:all:x"):
        before = len(world.stub.answered_callback_queries)
        assert "no longer valid" in await opu.press(forged)
        assert len(world.stub.answered_callback_queries) == before + 1


async def test_completed_on_is_the_tenants_date_and_waive_says_so(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    vat = await obligation(world.db, acme, acme.dhaka, "VAT return", due_in_days=5, proof=False)
    evening = datetime.now(UTC).replace(hour=19, minute=30, second=0, microsecond=0)
    async with (await units_of(world, acme.tenant.id, admin))(now=evening) as (session, actor):
        await complete_obligation(session, actor, vat, now=evening)
    dhaka_date = (evening + timedelta(hours=6)).date()
    expected = f"{dhaka_date:%d %b %Y}"
    again = await admin.press(ObligationButton(action="complete", id=vat.hex).pack())
    assert f"already completed on {expected}" in again
    waive = await admin.press(ObligationButton(action="waive", id=vat.hex).pack())
    assert f"already completed on {expected}" in waive
    assert "Only" not in waive


async def test_operators_help_says_how_to_complete_and_upload(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    shown = await opu.send("/help")
    assert "You are an operator of Acme for DHK-01." in shown
    assert "✅ complete one, 📎 upload its proof" in shown
    assert "/adddomain" not in shown
    assert "✋" not in shown


async def test_uploads_use_the_injected_settings(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    small = world.settings.model_copy(
        update={"max_document_bytes": 300, "data_dir": world.settings.data_dir / "elsewhere"}
    )
    world.dispatcher = create_dispatcher(world.db, small, ssl_resolver=RESOLVER)
    await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    refused = await opu.send_document(PDF + b"%" * 400, "big.pdf")
    assert "300 bytes" in refused
    assert await documents_of(world, acme.tenant.id, fire) == []
    stored = await opu.send_document(PDF, "fire.pdf")
    assert "Stored “fire.pdf”" in stored
    assert list((small.data_dir / "documents").rglob("*")), "not stored in the injected DATA_DIR"


async def test_the_declared_size_is_not_trusted(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    world.stub.hide_file_sizes = True
    huge = PDF + b"0" * (19 * 1024 * 1024)
    file_id = f"f{uuid.uuid4().hex}"
    world.stub.add_file(file_id, huge)
    await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    before = len(world.stub.calls)
    await opu.feed(
        {
            "message": {
                "message_id": 77,
                "date": 0,
                "chat": {"id": opu.telegram_id, "type": "private"},
                "from": {"id": opu.telegram_id, "is_bot": False, "first_name": "Opu"},
                "document": {
                    "file_id": file_id,
                    "file_unique_id": "u" + file_id,
                    "file_name": "claims-small.pdf",
                    "file_size": 1000,
                },
            }
        }
    )
    assert "larger than 1.0 MiB" in opu.last_reply(since=before)
    assert await documents_of(world, acme.tenant.id, fire) == []
    await asyncio.wait_for(world.stub.file_finished.wait(), 5)
    assert world.stub.served_bytes[file_id] < len(huge)


async def test_file_names_lose_bidi_controls(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    await opu.send_document(PDF, "invoice\u202efdp.exe")
    assert await documents_of(world, acme.tenant.id, fire) == ["invoicefdp.exe"]


async def test_a_file_sent_unasked_is_offered_to_the_open_obligations(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    await obligation(world.db, acme, acme.chattogram, "Not mine", due_in_days=1, proof=True)
    offer = await opu.send_document(PDF, "drill.pdf")
    assert "Which obligation is this file proof for?" in offer
    labels = [label for label, _ in opu.buttons()]
    assert any("Fire drill" in label for label in labels)
    assert not any("Not mine" in label for label in labels)
    stored = await opu.press_labelled("Fire drill")
    assert "Stored “drill.pdf”" in stored
    assert await documents_of(world, acme.tenant.id, fire) == ["drill.pdf"]


async def test_details_with_many_long_file_names_fits_telegrams_limit(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        for number in range(60):
            session.add(
                ObligationDocument(
                    tenant_id=acme.tenant.id,
                    obligation_instance_id=fire,
                    storage_key=f"sha256/00/{number:064x}",
                    filename=f"{number:02d}-" + "very-long-scanned-receipt-name-" * 7 + ".pdf",
                    mime_type="application/pdf",
                    size_bytes=1000,
                    sha256=f"{number:064x}",
                )
            )
    shown = await opu.press(ObligationButton(action="details", id=fire.hex).pack())
    assert "Fire drill" in shown
    assert len(shown) <= 4096
    assert shown.endswith("…")
    assert "This button is no longer valid" not in shown


async def test_an_upload_to_an_obligation_completed_meanwhile_is_refused(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    mina = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    vat = await obligation(world.db, acme, acme.dhaka, "VAT return", due_in_days=1, proof=False)
    await opu.press(ObligationButton(action="proof", id=vat.hex).pack())
    await mina.press(ObligationButton(action="complete", id=vat.hex).pack())
    refused = await opu.send_document(PDF, "late.pdf")
    assert "already completed" in refused
    assert await documents_of(world, acme.tenant.id, vat) == []
    async with world.db.tenant_uow(acme.tenant.id) as session:
        assert await session.scalar(select(func.count()).select_from(PendingUpload)) == 0


async def test_the_daily_upload_quota_is_refused_with_the_limit(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    world.dispatcher = create_dispatcher(
        world.db,
        world.settings.model_copy(update={"upload_quota_files_per_day": 2}),
        ssl_resolver=RESOLVER,
    )
    for copy in range(2):
        await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
        assert "Stored" in await opu.send_document(PDF + b"%" * copy, f"p{copy}.pdf")
    refused = await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    assert "You have stored 2 files today" in refused


async def test_wrong_start_codes_are_limited_per_chat(world: BotWorld) -> None:
    stranger = Conversation(world, name="Karim")
    for attempt in range(5):
        assert "not valid" in await stranger.send(f"/start wrong-code-number-{attempt:02d}x")
    waited = await stranger.send("/start wrong-code-number-06x")
    assert "Too many wrong codes" in waited
    assert "seconds" in waited
    other = Conversation(world, name="Rahim")
    assert "not valid" in await other.send("/start wrong-code-number-07x")


async def test_a_download_cut_short_is_finished_after_a_restart(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    world.stub.file_delay_seconds = 30
    handling = asyncio.create_task(opu.send_document(PDF, "drill.pdf"))
    await asyncio.wait_for(world.stub.file_requested.wait(), 5)
    handling.cancel()
    await asyncio.gather(handling, return_exceptions=True)
    world.stub.file_delay_seconds = 0
    async with world.db.tenant_uow(acme.tenant.id) as session:
        pending = list(await session.scalars(select(PendingUpload)))
    assert [row.filename for row in pending] == ["drill.pdf"]
    assert await documents_of(world, acme.tenant.id, fire) == []

    world.restart()
    worker = PendingUploads(
        world.bot, world.db, world.settings, local_storage(world.settings), CatalogueI18n()
    )
    later = datetime.now(UTC) + timedelta(seconds=world.settings.upload_resume_seconds + 1)
    assert await worker.run_once(now=later) == 1
    assert await documents_of(world, acme.tenant.id, fire) == ["drill.pdf"]
    assert "Stored “drill.pdf”" in opu.last_message()["text"]
    assert await worker.run_once(now=later) == 0
