"""The Export button and /export, through the dispatcher and the Bot API stand-in.

What arrives is the document Telegram would receive (sendDocument's multipart upload),
opened with openpyxl: its rows are the presser's scope, its headers their language, a
formula-looking title is inert. Refusals are the press's pop-up, in the reader's language.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from bot.callbacks import ExportButton
from core.db.enums import AppRole, Language
from core.i18n import texts_for
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import company, obligation
from tests.telegram_stub import Upload

HYPERLINK = '=HYPERLINK("http://x","y")'


def documents_since(world: BotWorld, before: int, chat: Conversation) -> list[tuple[Upload, Any]]:
    found = []
    for call in world.stub.calls[before:]:
        if call.method == "sendDocument" and int(call.params["chat_id"]) == chat.telegram_id:
            (upload,) = [value for value in call.params.values() if isinstance(value, Upload)]
            found.append((upload, call.params.get("caption")))
    return found


def rows_of(upload: Upload) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(upload.content)).worksheets[0]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


async def test_export_button_sends_the_workbook_of_the_pressers_scope(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    karim = await member(
        world, acme, AppRole.branch_manager, acme.dhaka, "Karim", language_code="bn"
    )
    await obligation(world.db, acme, acme.dhaka, HYPERLINK, due_in_days=3, proof=False)
    await obligation(world.db, acme, acme.chattogram, "Trade licence", due_in_days=9, proof=False)

    before = len(world.stub.calls)
    said = await admin.press(ExportButton(kind="obligations").pack())
    assert said == "Preparing the spreadsheet…"
    ((upload, caption),) = documents_since(world, before, admin)
    assert upload.filename.startswith("obligations-")
    assert upload.filename.endswith(".xlsx")
    assert caption == "Obligations: 2 rows"
    rows = rows_of(upload)
    assert rows[0][:4] == ["Obligation id", "Branch code", "Branch", "Title"]
    assert sorted((row[1], row[3]) for row in rows[1:]) == [
        ("CTG-02", "Trade licence"),
        ("DHK-01", "'" + HYPERLINK),
    ]

    bengali = texts_for(Language.bn)
    before = len(world.stub.calls)
    await karim.press(ExportButton(kind="obligations").pack())
    ((upload, caption),) = documents_since(world, before, karim)
    rows = rows_of(upload)
    assert rows[0][3] == bengali.gettext("Title")
    assert [row[1] for row in rows[1:]] == ["DHK-01"], "a manager gets their branches only"
    assert caption.startswith(bengali.gettext("Obligations"))

    before = len(world.stub.calls)
    await karim.press(ExportButton(kind="obligations", branch="DHK-01").pack())
    ((upload, _),) = documents_since(world, before, karim)
    assert "-DHK-01-" in upload.filename


async def test_refusals_are_the_presss_pop_up_in_the_readers_language(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    karim = await member(
        world, acme, AppRole.branch_manager, acme.dhaka, "Karim", language_code="bn"
    )
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    bengali = texts_for(Language.bn)

    before = len(world.stub.calls)
    refused = await karim.press(ExportButton(kind="audit").pack())
    assert refused == bengali.gettext("Only head office can do this.")
    refused = await karim.press(ExportButton(kind="obligations", branch="CTG-02").pack())
    assert refused == bengali.gettext("No such branch in your scope.")
    refused = await opu.press(ExportButton(kind="obligations").pack())
    assert refused == "Only branch managers and head office can do this."
    refused = await opu.press(ExportButton(kind="payroll").pack())
    assert "Unknown export “payroll”" in refused
    assert not [call for call in world.stub.calls[before:] if call.method == "sendDocument"]


async def test_export_command_replies_with_the_document(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=False)

    before = len(world.stub.calls)
    await admin.send("/export")
    ((upload, _),) = documents_since(world, before, admin)
    assert upload.filename.startswith("obligations-")
    assert len(rows_of(upload)) == 2

    before = len(world.stub.calls)
    await admin.send("/export audit")
    ((upload, caption),) = documents_since(world, before, admin)
    assert upload.filename.startswith("audit-")
    actions = [row[3] for row in rows_of(upload)[1:]]
    assert "branch.create" in actions
    assert caption.startswith("Audit trail: ")

    before = len(world.stub.calls)
    assert "Unknown export “bogus”" in await admin.send("/export bogus")
    assert "/export [obligations|domains|audit|deliveries]" in await admin.send("/export a b c")
    hostile = await admin.send("/export obligations <b>x</b>")
    assert "&lt;b&gt;x&lt;/b&gt;" in hostile, "the refusal quotes the code, escaped"
    assert not documents_since(world, before, admin)
