"""/report through the dispatcher: the text, the chart as a photo, the Export button.

The company is `tests.core.reports.test_report.seed_acme` (scores worked out by hand there).
Head office sees the five branches worst first; a Bengali-speaking manager of DHK-01 sees
that branch only, in Bengali, and is refused another; an operator is refused in words.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile
from PIL import Image

from bot.callbacks import ExportButton
from core.db.enums import AppRole
from core.errors import ErrorCode, NotFoundError
from core.i18n import texts_for
from core.i18n.errors import render_error
from core.reports.chart import HEIGHT_PX, WIDTH_PX
from tests.bot.conftest import BotWorld, Conversation, member
from tests.core.reports.test_report import Acme, seed_acme
from tests.telegram_stub import Upload


@pytest.fixture
async def acme(world: BotWorld) -> Acme:
    return await seed_acme(world.db)


def photos_to(world: BotWorld, person: Conversation) -> list[dict[str, Any]]:
    return [call.params for call in world.stub.sent("sendPhoto", chat_id=person.telegram_id)]


def chart_of(params: dict[str, Any]) -> bytes:
    reference = params["photo"]
    upload = (
        params[reference.removeprefix("attach://")] if isinstance(reference, str) else reference
    )
    assert isinstance(upload, Upload)
    return upload.content


def export_buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


def assert_phone_chart(png: bytes) -> None:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX)
    assert 10_000 < len(png) < 300_000


async def test_head_office_gets_the_ranking_the_chart_and_export(
    world: BotWorld, acme: Acme
) -> None:
    nadia = await member(world, acme.firm, AppRole.head_office_admin, None, "Nadia")
    text = await nadia.send("/report")
    lines = text.splitlines()
    assert lines[0].startswith("<b>Health report</b>, ")
    ranked = [line for line in lines if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert ranked == [
        "1. 🟡 <b>KHL-04</b> Khulna: 66",
        "2. 🟡 <b>DHK-01</b> Dhaka HQ: 74",
        "3. 🟢 <b>CTG-02</b> Chattogram: 84",
        "4. 🟢 <b>BAR-05</b> Barishal: 100",
        "5. 🟢 <b>SYL-03</b> Sylhet: 100",
    ]
    for shown in (
        "Overdue: 4",
        "• Fire certificate (DHK-01), overdue by 45 days",
        "Due today or within 7 days: 13",
        "• inspection renewal: 0 overdue, 12 due soon, 0 waived",
        "Certificates at risk: 4",
        "• 🔴 hq.acme.test (head office): expired",
        "Unacknowledged alerts: 3",
        "Waivers in the last 30 days: 2",
        "• Sprinklers (CTG-02), waived by Karim Ahmed: Shop closed for renovation",
        "• VAT return (BAR-05), waived from the command line: Filed by the landlord",
    ):
        assert shown in lines, shown
    (photo,) = photos_to(world, nadia)
    assert_phone_chart(chart_of(photo))
    assert "worst first" in photo["caption"]
    assert export_buttons(photo) == [ExportButton(kind="obligations", branch="").pack()]

    one = await nadia.send("/report dhk-01")
    assert one.startswith("<b>Health report of DHK-01</b>, ")
    assert "1. 🟡 <b>DHK-01</b> Dhaka HQ: 74" in one.splitlines()
    assert export_buttons(photos_to(world, nadia)[-1]) == [
        ExportButton(kind="obligations", branch="DHK-01").pack()
    ]


async def test_a_bengali_manager_sees_their_branch_in_bengali(world: BotWorld, acme: Acme) -> None:
    jamal = await member(
        world, acme.firm, AppRole.branch_manager, acme.firm.dhaka, "Jamal", language_code="bn"
    )
    bn = texts_for("bn")
    text = await jamal.send("/report")
    lines = text.splitlines()
    assert bn.gettext("Worst first:") in lines
    assert bn.gettext("Worst first:") != "Worst first:"
    assert (
        bn.gettext("{number}. {mark} <b>{code}</b> {name}: {score}").format(
            number=bn.number(1), mark="🟡", code="DHK-01", name="Dhaka HQ", score=bn.number(74)
        )
        in lines
    )
    assert "KHL-04" not in text
    assert "CTG-02" not in text
    assert bn.gettext("Overdue: {count}").format(count=bn.number(2)) in lines
    (photo,) = photos_to(world, jamal)
    assert_phone_chart(chart_of(photo))
    assert photo["caption"] == bn.gettext(
        "Health score 0-100, worst first: 🟢 80 and above, 🟡 50 to 79, 🔴 below 50."
    )
    assert export_buttons(photo) == [ExportButton(kind="obligations", branch="").pack()]

    refused = await jamal.send("/report CTG-02")
    assert refused == render_error(NotFoundError(ErrorCode.branch_not_in_scope), "bn")
    assert len(photos_to(world, jamal)) == 1


async def test_an_operator_is_refused_in_words(world: BotWorld, acme: Acme) -> None:
    rahim = await member(world, acme.firm, AppRole.operator, acme.firm.dhaka, "Rahim")
    assert await rahim.send("/report") == "Only branch managers and head office can do this."
    assert photos_to(world, rahim) == []
    usage = await rahim.send("/report A B")
    assert "/report [BRANCH_CODE]" in usage


async def test_the_stand_in_refuses_a_photo_that_is_no_image(world: BotWorld) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await world.bot.send_photo(1, BufferedInputFile(b"%PDF-1.4 not a picture", "x.png"))
