"""A proof file goes back into the chat as a document, byte for byte, under its own name.

An operator uploads a proof through the real dispatcher and the Bot API stand-in; head
office opens Details and presses the file's button; what the stand-in receives is the very
bytes uploaded, named as the operator's file was.
"""

from __future__ import annotations

from bot.callbacks import DocumentButton, ObligationButton
from core.db.enums import AppRole
from tests.bot.conftest import BotWorld, member
from tests.companies import PDF, company, obligation
from tests.telegram_stub import Upload


async def test_a_proof_file_is_sent_back_byte_identical_with_its_name(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=True)
    proof = PDF + bytes(range(256)) * 40 + b"\r\n\x00%%EOF\n"
    name = "Fire drill report 2026 (signed).pdf"

    await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    assert f"Stored “{name}”" in await opu.send_document(proof, name)

    details = await admin.press(ObligationButton(action="details", id=fire.hex).pack())
    assert name in details
    file_buttons = [data for text, data in admin.buttons() if text.startswith("📄")]
    assert len(file_buttons) == 1
    assert DocumentButton.unpack(file_buttons[0]).id

    before = len(world.stub.calls)
    await admin.press(file_buttons[0])
    (call,) = [c for c in world.stub.calls[before:] if c.method == "sendDocument"]
    assert int(call.params["chat_id"]) == admin.telegram_id
    (upload,) = [value for value in call.params.values() if isinstance(value, Upload)]
    assert upload.filename == name
    assert upload.content == proof
    assert world.stub.uploaded[name] == proof


async def test_a_file_of_another_branch_is_not_sent(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    chattogram = await member(world, acme, AppRole.operator, acme.chattogram, "Chandra")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=True)
    await opu.press(ObligationButton(action="proof", id=fire.hex).pack())
    await opu.send_document(PDF, "drill.pdf")
    await opu.press(ObligationButton(action="details", id=fire.hex).pack())
    (file_button,) = [data for text, data in opu.buttons() if text.startswith("📄")]

    before = len(world.stub.calls)
    refused = await chattogram.press(file_button)
    assert "No such document in your branches." in refused
    assert not [c for c in world.stub.calls[before:] if c.method == "sendDocument"]
