"""/audit through the real dispatcher and the Bot API stand-in.

Head office reads who did what, when and what changed, in words and in their language,
latest first, in pages that fit one message and neither skip nor repeat an entry; anyone
else is refused in their own language, on the command and on a page button alike.
"""

from __future__ import annotations

import re

from bot.callbacks import AuditPageButton, ObligationButton
from bot.texts import MESSAGE_LIMIT
from core.audit.wording import ACTIONS
from core.db.enums import AppRole
from core.errors import ErrorCode
from core.i18n import texts_for
from core.i18n.errors import ERROR_TEXTS
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import company, obligation

OLDER, NEWER = "Older ▶", "◀ Newer"


def page_buttons(person: Conversation) -> dict[str, str]:
    return {text: data for text, data in person.buttons() if data.startswith("au:")}


async def test_head_office_reads_who_did_what_and_what_changed(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=False)
    await opu.press(ObligationButton(action="complete", id=fire.hex).pack())
    vat = await obligation(
        world.db, acme, acme.chattogram, "VAT return", due_in_days=5, proof=False
    )
    await admin.press(ObligationButton(action="waive", id=vat.hex).pack())
    await admin.send("Branch closed for rebuilding, " + "the landlord's notice attached " * 12)

    shown = await admin.send("/audit")

    assert shown.startswith("<b>Audit trail</b>, latest first")
    entries = shown.split("\n\n")[1:]
    waived = next(entry for entry in entries if "waived an obligation" in entry)
    completed = next(entry for entry in entries if "completed an obligation" in entry)
    assert entries.index(waived) < entries.index(completed)
    assert "· Hasan\nwaived an obligation: “VAT return”" in waived
    assert "status: upcoming → waived" in waived
    assert re.search(
        r"waiver reason: — → Branch closed for rebuilding, the landlord's n.*…", waived
    )
    assert "· Opu\ncompleted an obligation: “Fire drill”" in completed
    assert "status: upcoming → completed" in completed
    assert "completed by: — → Opu" in completed
    local = re.search(r"🕓 <b>(\d{2} \w{3} \d{4}) at (\d{2}:\d{2})</b>", completed)
    assert local is not None, completed
    assert len(shown) <= MESSAGE_LIMIT


async def test_pages_fit_one_message_and_neither_skip_nor_repeat(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    titles = [f"Permit {number:02d} " + "for the warehouse " * 12 for number in range(1, 13)]
    for title in titles:
        permit = await obligation(world.db, acme, acme.dhaka, title, due_in_days=9, proof=False)
        await admin.press(ObligationButton(action="waive", id=permit.hex).pack())
        await admin.send("Not needed this year: " + "the warehouse is leased out " * 30)

    pages = [await admin.send("/audit")]
    while OLDER in page_buttons(admin):
        pages.append(await admin.press(page_buttons(admin)[OLDER]))
    assert len(pages) >= 3
    assert all(len(page) <= MESSAGE_LIMIT for page in pages)
    waived = [
        number
        for page in pages
        for number in re.findall(r"waived an obligation: “Permit (\d\d)", page)
    ]
    assert waived == [f"{n:02d}" for n in range(12, 0, -1)]
    assert "created the company" in pages[-1]

    second = pages[1]
    await admin.send("/audit")
    await admin.press(page_buttons(admin)[OLDER])
    assert NEWER in page_buttons(admin)
    assert admin.last_message()["text"] == second
    back = await admin.press(page_buttons(admin)[NEWER])
    assert back == pages[0]
    assert NEWER not in page_buttons(admin)


async def test_a_bengali_admin_reads_it_in_bengali(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan", language_code="bn")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=False)
    await admin.press(ObligationButton(action="complete", id=fire.hex).pack())
    bengali = texts_for("bn")

    shown = await admin.send("/audit")

    assert bengali.gettext(ACTIONS["obligation.complete"]) in shown
    assert bengali.gettext(ACTIONS["obligation.complete"]) != ACTIONS["obligation.complete"]
    assert "Audit trail" not in shown
    assert re.search("[০-৯]", shown)


async def test_anyone_but_head_office_is_refused_in_their_language(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    opu = await member(world, acme, AppRole.operator, acme.dhaka, "Opu", language_code="bn")
    refusal = ERROR_TEXTS[ErrorCode.head_office_only]

    assert await manager.send("/audit") == refusal
    assert await manager.press(AuditPageButton(before="6323b1c9f8a10.2a").pack()) == refusal
    assert await opu.send("/audit") == texts_for("bn").gettext(refusal)
    assert "Audit trail" not in " ".join(manager.everything_said() + opu.everything_said())


async def test_a_forged_position_is_answered(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    answer = await admin.press("au:zz:")
    assert "is not a position in the audit trail" in answer
    stale = await admin.press(AuditPageButton(before="1.1").pack())
    assert "No more entries." in stale
    assert "⏮ Latest" in [text for text, _data in admin.buttons()]
