"""বাংলা end to end: every command and button, through the real dispatcher and the Bot API
stand-in, answers from the Bengali catalogue, with Bengali digits and month names; the
choice made with /language persists across a restart; alerts are written in each
recipient's language.

A reply fails the check when it contains an English phrase of the `en` catalogue (a msgid's
literal text between placeholders) that the Bengali catalogue did not keep on purpose (a
command like `/obligations`, a file type, a role name typed as-is).
"""

from __future__ import annotations

import re
import uuid
from functools import cache

from bot.callbacks import AlertButton, ObligationButton, ObligationPageButton
from core.db.enums import AppRole, Language, NotificationEventType, Severity
from core.notify.events import emit_event
from core.tenancy.models import User
from tests.bot.conftest import BotWorld, Conversation, deliver, member, telegram_alerts
from tests.catalogue import entries
from tests.companies import PDF, company, invite, obligation

PLACEHOLDER = re.compile(r"\{[a-z_]+\}|<[^>]+>")
WORDS = re.compile(r"[A-Za-z]{2,}[,.:;!?']?\s+[A-Za-z]{2,}")
BENGALI = re.compile(r"[\u0980-\u09FF]")
BENGALI_DIGIT = re.compile(r"[০-৯]")


@cache
def english_phrases() -> frozenset[str]:
    """Literal English fragments of every msgid, less those the translation keeps."""
    phrases: set[str] = set()
    for entry in entries(Language.bn):
        ids, translated = entry.ids, " ".join(entry.strings)
        for msgid in ids:
            for fragment in PLACEHOLDER.split(msgid):
                for line in fragment.split("\n"):
                    piece = line.strip(" .,:;!?()[]—–-•")
                    if len(piece) >= 8 and WORDS.search(piece) and piece not in translated:
                        phrases.add(piece)
    return frozenset(phrases)


def english_in(text: str) -> list[str]:
    return sorted(phrase for phrase in english_phrases() if phrase in text)


def assert_bengali(said: list[str]) -> None:
    assert said, "the bot said nothing"
    faults = [(text, english_in(text)) for text in said if english_in(text)]
    assert not faults, "\n\n".join(f"{text!r}\n  English: {found}" for text, found in faults)
    unworded = [text for text in said if not BENGALI.search(text)]
    assert not unworded, f"replies with no Bengali at all: {unworded}"


async def test_the_check_catches_an_english_reply() -> None:
    assert english_in("Nothing here. 🎉")
    assert english_in("✅ Completed: <b>ভ্যাট</b>") == []  # "Completed" alone is not a phrase
    assert english_in("এখানে কিছু নেই। 🎉") == []


async def test_every_command_and_button_answers_in_bengali(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    manager = await member(
        world, acme, AppRole.branch_manager, acme.dhaka, "Jamal", language_code="bn"
    )
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan", language_code="bn")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu", language_code="bn")
    licence = await obligation(
        world.db, acme, acme.dhaka, "ট্রেড লাইসেন্স নবায়ন", due_in_days=-2, proof=True
    )
    vat = await obligation(world.db, acme, acme.dhaka, "ভ্যাট রিটার্ন", due_in_days=3, proof=False)
    for day in range(6):
        await obligation(
            world.db, acme, acme.dhaka, f"পরিদর্শন {day}", due_in_days=10 + day, proof=False
        )

    await manager.send("/start")
    await manager.send("/help")
    listing = await manager.send("/obligations")
    assert "ট্রেড লাইসেন্স নবায়ন" in listing
    assert BENGALI_DIGIT.search(listing)
    dates = re.findall(r"([0-9০-৯]+) (\S+) ([0-9০-৯]{4}) \(", listing)
    assert len(dates) == 5, listing
    assert all(BENGALI_DIGIT.fullmatch(day[0]) or len(day[0]) == 2 for day in dates)
    assert not any(re.search(r"[0-9]", day + year) for day, _month, year in dates), dates
    assert all(BENGALI.search(month) for _day, month, _year in dates), dates
    await manager.press(ObligationPageButton(window="all", page=1).pack())
    await manager.send("/obligations overdue")
    await manager.send("/obligations week")
    await manager.send("/obligations someday")
    await manager.press(ObligationButton(action="details", id=licence.hex).pack())
    await manager.press(ObligationButton(action="complete", id=licence.hex).pack())
    await manager.press(ObligationButton(action="proof", id=licence.hex).pack())
    await manager.send("এটা প্রমাণ নয়")
    await manager.send_document(b"MZ\x90\x00 not a pdf", "invoice.exe")
    await manager.send_document(PDF, "licence.pdf")
    await manager.press(ObligationButton(action="complete", id=licence.hex).pack())
    await manager.press(ObligationButton(action="complete", id=licence.hex).pack())
    await manager.press(ObligationButton(action="details", id=licence.hex).pack())
    await manager.press(ObligationButton(action="waive", id=vat.hex).pack())
    await manager.send("শাখা সংস্কারের জন্য বন্ধ")
    await manager.press(ObligationButton(action="reopen", id=vat.hex).pack())
    await manager.press(ObligationButton(action="details", id=uuid.uuid4().hex).pack())
    await manager.press("op:all:99999999999999999999")
    await manager.send_document(PDF, "unasked.pdf")
    await manager.send("/alerts")
    await manager.send("/domains")
    await manager.send("/digest")
    await manager.send("/check shop.intrex.test")
    await manager.send("/adddomain shop.intrex.test")
    await manager.send("/invite operator DHK-01")
    await manager.send("hello there")
    await manager.send("/language")
    await operator.send("/obligations")
    await operator.press(ObligationButton(action="waive", id=vat.hex).pack())
    await operator.send("/check shop.intrex.test")
    await admin.send("/invite emperor")
    await admin.send("/invite operator")
    invited = await admin.send("/invite operator DHK-01")
    assert "t.me/" in invited
    await admin.send("/invite operator DHK-01 CTG-02 nadia@acme.example")
    await admin.send("/invite operator NOPE-1")
    await manager.send("/users")
    await operator.send("/users")
    await admin.send("/users")
    await admin.press_labelled("1 👤")
    await admin.press_labelled("⛔")
    await admin.send("/invites")
    await admin.press_labelled("🚫")
    await admin.send("/users")
    await admin.press_labelled("2 👤")
    await admin.press_labelled("🏢")
    await admin.press_labelled("CTG-02")
    await admin.press_labelled("✔")
    await admin.press_labelled("🎭")
    await admin.press(admin.buttons()[0][1])
    await admin.send("/removedomain nowhere.intrex.test")
    await admin.send("/removedomain")
    await admin.send("/check")
    stranger = Conversation(world, name="Karim", language_code="bn")
    await stranger.send("/obligations")
    await stranger.send("/start not-a-real-code-at-all")
    issued = await invite(world.db, acme.tenant, AppRole.operator, ["CTG-02"])
    linked = await stranger.send(f"/start {issued.code}")
    assert "CTG-02" in linked

    for person in (manager, operator, admin, stranger):
        assert_bengali(person.everything_said())


async def test_language_switches_and_persists_across_a_restart(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    assert "Hello, Mina!" in await manager.send("/help")
    menu = await manager.send("/language")
    assert [label for label, _ in manager.buttons()] == ["English", "বাংলা"]
    assert "Choose your language" in menu
    chosen = await manager.press_labelled("বাংলা")
    assert BENGALI.search(chosen)
    assert not english_in(chosen)

    world.restart()
    after = await manager.send("/help")
    assert "হ্যালো, Mina!" in after
    assert not english_in(after)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        stored = await session.get_one(User, await _user_id(world, acme.tenant.id, manager))
    assert stored.language == "bn"

    await manager.send("/language")
    back = await manager.press_labelled("English")
    assert "Language: English" in back
    assert "Hello, Mina!" in await manager.send("/help")


async def test_own_choice_beats_the_client_and_the_client_beats_the_default(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    client_bn = await member(world, acme, AppRole.operator, acme.dhaka, "Rina", language_code="bn")
    client_en = await member(
        world, acme, AppRole.operator, acme.dhaka, "Tom", language_code="en-GB"
    )
    assert "হ্যালো, Rina!" in await client_bn.send("/help")
    assert "Hello, Tom!" in await client_en.send("/help")
    await client_bn.send("/language")
    await client_bn.press_labelled("English")
    assert "Hello, Rina!" in await client_bn.send("/help")


async def _user_id(world: BotWorld, tenant_id: uuid.UUID, person: Conversation) -> int:
    from sqlalchemy import select

    async with world.db.tenant_uow(tenant_id) as session:
        found = await session.scalar(
            select(User.id).where(User.telegram_user_id == person.telegram_id)
        )
    assert found is not None
    return found


async def test_an_alert_is_written_in_each_recipients_language(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    bengali = await member(
        world, acme, AppRole.branch_manager, acme.dhaka, "Jamal", language_code="bn"
    )
    english = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    await bengali.send("/language")
    await bengali.press_labelled("বাংলা")
    box = await telegram_alerts(world, acme, event_type="all", severity_min="low")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=acme.tenant.id,
            event_type=NotificationEventType.obligation_overdue,
            severity=Severity.high,
            fingerprint="obligation_overdue:test",
            payload={
                "title": "ট্রেড লাইসেন্স",
                "branch_code": "DHK-01",
                "branch_name": "Dhaka HQ",
                "due_at": "2026-11-28",
                "days_left": -3,
            },
            branch_id=acme.dhaka.id,
        )
    assert event is not None
    report = await deliver(world, box)
    assert report.sent == 2
    in_bengali, in_english = bengali.last_message(), english.last_message()
    assert "২৮ নভেম্বর ২০২৬" in in_bengali["text"]
    assert not english_in(in_bengali["text"])
    assert "28 Nov 2026" in in_english["text"]
    assert "Overdue: ট্রেড লাইসেন্স (DHK-01)" in in_english["text"]
    ack = AlertButton(action="ack", id=event.id.hex).pack()
    assert next(label for label, _ in bengali.buttons(in_bengali)) != "✅ Acknowledge"
    assert ("✅ Acknowledge", ack) in english.buttons(in_english)
