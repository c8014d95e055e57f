"""Onboarding from chat: an admin's CSV or XLSX file previewed, then imported or cancelled.

Through the real dispatcher and the Bot API stand-in (getFile and the download included),
the real importer and database underneath: the preview's counts, Import importing all of
it once however often it is pressed, Cancel importing nothing, errors by line with no
Import button, refusals by role, size and type, and a proof upload in progress left alone.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta

from aiogram.fsm.storage.base import StorageKey
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.callbacks import ImportButton, ObligationButton
from bot.routers.imports import IMPORT_MAX_BYTES, PREVIEW_LIFETIME
from core.audit.models import ActivityLog
from core.db.enums import AppRole
from core.obligations.models import ObligationDocument, ObligationInstance, ObligationTemplate
from core.tenancy.models import Tenant, User
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import PDF, Company, company, obligation

SOON = (date.today() + timedelta(days=20)).isoformat()
"""Inside the 12 months that instances are generated for, whenever the test runs."""
HEADER = "branch_code,category,title,due_date,severity,recurrence\n"
GOOD = (
    HEADER
    + f"DHK-01,trade_license,Trade licence renewal,{SOON},high,annual\n"
    + f"DHK-01,tax_vat,VAT return,{SOON},medium,monthly\n"
    + f"CTG-02,fire_safety,Fire drill,{SOON},critical,\n"
)
BAD = (
    GOOD
    + f"NOPE-9,tax_vat,VAT return,{SOON},medium,monthly\n"  # line 5
    + f"DHK-01,parking,Parking permit,{SOON},medium,monthly\n"  # line 6
)
ONE = HEADER + f"DHK-01,trade_license,Trade licence renewal,{SOON},high,annual\n"
CSV = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def counts(world: BotWorld, tenant: Tenant) -> tuple[int, int]:
    """Templates and instances of the tenant."""
    async with world.db.tenant_uow(tenant.id) as session:
        templates = await session.scalar(select(func.count(ObligationTemplate.id)))
        instances = await session.scalar(select(func.count(ObligationInstance.id)))
    return int(templates or 0), int(instances or 0)


def xlsx(text: str) -> bytes:
    """The CSV's rows as an Excel workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in text.splitlines():
        sheet.append(line.split(","))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def callbacks(person: Conversation) -> list[str]:
    return [data for _label, data in person.buttons()]


async def admin_of(
    world: BotWorld, name: str = "Amina", **kwargs: str
) -> tuple[Company, Conversation]:
    acme = await company(world.db)
    return acme, await member(world, acme, AppRole.head_office_admin, None, name, **kwargs)


async def test_the_preview_counts_and_import_imports_all_of_it_once(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    shown = await admin.send_document(GOOD.encode(), "obligations.csv", CSV)
    assert "Preview of “obligations.csv”" in shown
    assert "Rows: 3" in shown
    assert "Branches: 2" in shown
    assert "Templates to create: 3" in shown
    assert "Templates already present: 0" in shown
    assert await counts(world, acme.tenant) == (0, 0)  # the preview was rolled back
    instances = int(shown.split("Obligations to create: ")[1].split("\n")[0])
    assert instances > 3  # the monthly and annual series, not only the first dates
    assert [label for label, _data in admin.buttons()] == ["✅ Import", "✖️ Cancel"]
    preview = admin.last_message()
    token = ImportButton.unpack(callbacks(admin)[0]).token
    done = await admin.press_labelled("Import", preview)
    assert "Imported “obligations.csv”" in done
    assert "Templates created: 3" in done
    assert f"Obligations created: {instances}" in done
    assert await counts(world, acme.tenant) == (3, instances)
    assert admin.buttons(admin.last_message()) == []  # the preview became the result
    async with world.db.tenant_uow(acme.tenant.id) as session:
        audited = list(
            await session.execute(
                select(User.telegram_user_id)
                .join(ActivityLog, ActivityLog.user_id == User.id)
                .where(ActivityLog.action == "obligation.import")
            )
        )
    assert [row.telegram_user_id for row in audited] == [admin.telegram_id]  # once, by name

    again = await admin.press(ImportButton(action="import", token=token).pack(), preview)
    assert "no longer current" in again
    assert await counts(world, acme.tenant) == (3, instances)


async def test_two_presses_at_once_import_once(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    await admin.send_document(GOOD.encode(), "twice.csv", CSV)
    preview = admin.last_message()
    go = callbacks(admin)[0]
    answers = await asyncio.gather(admin.press(go, preview), admin.press(go, preview))
    assert any("no longer current" in answer for answer in answers)
    templates, _instances = await counts(world, acme.tenant)
    assert templates == 3
    late = await admin.press(go, preview)
    assert "no longer current" in late
    assert (await counts(world, acme.tenant))[0] == 3


async def test_cancel_imports_nothing(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    await admin.send_document(GOOD.encode(), "obligations.csv", CSV)
    preview = admin.last_message()
    go = callbacks(admin)[0]
    assert "I did not understand" in await admin.send("hello")  # text is not for this flow
    said = await admin.press_labelled("Cancel", preview)
    assert "Cancelled" in said
    assert "nothing from “obligations.csv” was imported" in said  # the preview, edited
    assert await counts(world, acme.tenant) == (0, 0)
    assert "no longer current" in await admin.press(go, preview)
    assert await counts(world, acme.tenant) == (0, 0)
    imports = world.settings.data_dir / "imports" / acme.tenant.id.hex
    assert list(imports.iterdir()) == []  # the file is gone with its preview


async def test_errors_are_shown_by_line_and_offer_no_import(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    shown = await admin.send_document(BAD.encode(), "bad.csv", CSV)
    assert "nothing will be imported until the file is fixed" in shown
    assert "Problems: 2" in shown
    assert "line 5: There is no branch NOPE-9." in shown
    assert "line 6: Unknown category “parking”" in shown
    assert admin.buttons(admin.last_message()) == []
    assert await counts(world, acme.tenant) == (0, 0)


async def test_errors_in_bengali(world: BotWorld) -> None:
    _acme, admin = await admin_of(world, language_code="bn")
    shown = await admin.send_document(BAD.encode(), "bad.csv", CSV)
    assert "ফাইলটি ঠিক না করা পর্যন্ত কিছুই ইমপোর্ট হবে না" in shown
    assert "লাইন ৫: " in shown
    assert "NOPE-9" in shown
    assert "line 5" not in shown
    assert admin.buttons(admin.last_message()) == []


async def test_a_long_error_list_fits_one_message(world: BotWorld) -> None:
    _acme, admin = await admin_of(world)
    rows = "".join(f"NOPE-{n},tax_vat,VAT return {n},{SOON},medium,monthly\n" for n in range(400))
    shown = await admin.send_document((HEADER + rows).encode(), "many.csv", CSV)
    assert len(shown) <= 4096
    assert "Problems: 400" in shown
    assert "line 2: There is no branch NOPE-0." in shown
    assert "… and " in shown
    listed = shown.count("There is no branch")
    more = int(shown.split("… and ")[1].split(" ")[0])
    assert listed + more == 400


async def test_a_newer_file_makes_the_older_preview_stale(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    await admin.send_document(GOOD.encode(), "first.csv", CSV)
    first = admin.last_message()
    await admin.send_document(ONE.encode(), "second.csv", CSV)
    second = admin.last_message()
    assert "Rows: 1" in second["text"]
    assert "no longer current" in await admin.press_labelled("Import", first)
    assert await counts(world, acme.tenant) == (0, 0)
    assert "Imported “second.csv”" in await admin.press_labelled("Import", second)
    assert (await counts(world, acme.tenant))[0] == 1


async def test_a_non_admin_is_refused(world: BotWorld) -> None:
    acme = await company(world.db)
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mitu")
    refused = await manager.send_document(GOOD.encode(), "obligations.csv", CSV)
    assert "Only head office can import obligations from a file" in refused
    assert manager.buttons(manager.last_message()) == []
    assert await counts(world, acme.tenant) == (0, 0)
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu", language_code="bn")
    bengali = await operator.send_document(GOOD.encode(), "obligations.csv", CSV)
    assert "শুধু হেড অফিস ফাইল থেকে করণীয় ইমপোর্ট করতে পারে" in bengali


async def test_a_non_admins_xlsx_is_offered_as_proof(world: BotWorld) -> None:
    acme = await company(world.db)
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    await obligation(world.db, acme, acme.dhaka, "Stock count", due_in_days=2, proof=True)
    offered = await operator.send_document(xlsx(GOOD), "stock.xlsx", XLSX_MIME)
    assert "Which obligation is this file proof for?" in offered


async def test_a_proof_upload_in_progress_is_not_an_import(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    count = await obligation(world.db, acme, acme.dhaka, "Stock count", due_in_days=2, proof=True)
    before = await counts(world, acme.tenant)
    await admin.press(ObligationButton(action="proof", id=count.hex).pack())
    stored = await admin.send_document(xlsx(GOOD), "stock.xlsx", XLSX_MIME)
    assert "Stored “stock.xlsx”" in stored
    assert "Preview" not in stored
    async with world.db.tenant_uow(acme.tenant.id) as session:
        names = list(await session.scalars(select(ObligationDocument.filename)))
    assert names == ["stock.xlsx"]
    assert await counts(world, acme.tenant) == before
    # and a CSV in that state is a (refused) proof file, not an import
    await admin.press(ObligationButton(action="proof", id=count.hex).pack())
    refused = await admin.send_document(GOOD.encode(), "obligations.csv", CSV)
    assert "not an accepted type" in refused
    assert await counts(world, acme.tenant) == before


async def test_a_pdf_named_csv_an_xls_and_a_huge_file_are_refused(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    pdf = await admin.send_document(PDF, "obligations.csv", CSV)
    assert "not CSV or XLSX (it looks like PDF)" in pdf
    xls = await admin.send_document(
        b"\xd0\xcf\x11\xe0 old excel", "obligations.xls", "application/vnd.ms-excel"
    )
    assert "not CSV or XLSX (it looks like XLS)" in xls
    huge = await admin.send_document(b"x" * (IMPORT_MAX_BYTES + 1), "huge.csv", CSV)
    assert "larger than 10.0 MiB, the limit for an import" in huge
    assert await counts(world, acme.tenant) == (0, 0)
    assert admin.buttons(admin.last_message()) == []


async def test_a_pdf_sent_by_an_admin_is_still_offered_as_proof(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=1, proof=True)
    assert "Which obligation is this file proof for?" in await admin.send_document(PDF, "drill.pdf")


async def test_an_xlsx_file_is_previewed_and_imported(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    shown = await admin.send_document(xlsx(GOOD), "obligations.xlsx", XLSX_MIME)
    assert "Preview of “obligations.xlsx”" in shown
    assert "Rows: 3" in shown
    assert "Imported" in await admin.press_labelled("Import")
    assert (await counts(world, acme.tenant))[0] == 3


async def test_a_forged_press_from_another_chat_is_stale(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    await admin.send_document(GOOD.encode(), "obligations.csv", CSV)
    go = callbacks(admin)[0]
    other = await member(world, acme, AppRole.head_office_admin, None, "Babul")
    assert "no longer current" in await other.press(go)
    assert await counts(world, acme.tenant) == (0, 0)
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mitu")
    assert "Only head office" in await manager.press(go)
    forged = await admin.press("im:import:..%2F..%2Fetc")
    assert "This button is no longer valid" in forged


async def test_an_expired_preview_is_answered_and_forgotten(world: BotWorld) -> None:
    acme, admin = await admin_of(world)
    await admin.send_document(GOOD.encode(), "old.csv", CSV)
    go = callbacks(admin)[0]
    key = StorageKey(bot_id=world.bot.id, chat_id=admin.telegram_id, user_id=admin.telegram_id)
    data = await world.dispatcher.storage.get_data(key)
    data["previewed_at"] = (datetime.now(UTC) - PREVIEW_LIFETIME - timedelta(minutes=1)).isoformat()
    await world.dispatcher.storage.set_data(key, data)
    assert "no longer current" in await admin.press(go)
    assert await counts(world, acme.tenant) == (0, 0)
    assert list((world.settings.data_dir / "imports" / acme.tenant.id.hex).iterdir()) == []
