"""Owners in the chat (SPEC §3, §6), through the real dispatcher to the Bot API stand-in:
`/obligations mine` lists only what the person owns, open, paged; Details names the owner,
in English and in Bengali; `/help` mentions `/obligations mine`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.callbacks import ObligationButton, ObligationPageButton
from core.db.enums import AppRole, ObligationCategory, Severity
from core.obligations.manage import OneOffSpec, add_obligation
from core.tenancy.models import Branch, User
from core.tenancy.scope import console_unit
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import Company, company


async def user_id_of(world: BotWorld, person: Conversation) -> int:
    async with world.db.system_uow() as session:
        found = await session.scalar(
            select(User.id).where(User.telegram_user_id == person.telegram_id)
        )
    assert found is not None
    return found


async def jamal_uddin(world: BotWorld, acme: Company) -> Conversation:
    """An operator of DHK-01 whose name head office gave as "Jamal Uddin"."""
    jamal = await member(world, acme, AppRole.operator, acme.dhaka, "Jamal")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        await session.execute(
            update(User)
            .where(User.id == await user_id_of(world, jamal))
            .values(full_name="Jamal Uddin")
        )
    return jamal


def local_today(acme: Company) -> date:
    return datetime.now(ZoneInfo(acme.tenant.timezone)).date()


async def owned(
    world: BotWorld,
    acme: Company,
    branch: Branch,
    title: str,
    *,
    due_in_days: int,
    owner: int | None,
) -> str:
    """A one-off added from the command line with this owner; its id in hex."""
    async with console_unit(world.db, acme.tenant.id) as (session, actor):
        view = await add_obligation(
            session,
            actor,
            OneOffSpec(
                branch_code=branch.code,
                category=ObligationCategory.fire_safety,
                title=title,
                due=local_today(acme) + timedelta(days=due_in_days),
                severity=Severity.high,
                owner_user_id=owner,
            ),
        )
    return view.id.hex


async def test_mine_lists_only_what_the_person_owns(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    jamal = await jamal_uddin(world, acme)
    rina = await member(world, acme, AppRole.operator, acme.dhaka, "Rina")
    jamal_id = await user_id_of(world, jamal)
    rina_id = await user_id_of(world, rina)
    for day in range(6):
        await owned(world, acme, acme.dhaka, f"Jamal's task {day}", due_in_days=day, owner=jamal_id)
    await owned(world, acme, acme.dhaka, "Late one", due_in_days=-3, owner=jamal_id)
    await owned(world, acme, acme.dhaka, "Rina's drill", due_in_days=1, owner=rina_id)
    await owned(world, acme, acme.dhaka, "Nobody's licence", due_in_days=-1, owner=None)

    everyone = await jamal.send("/obligations")
    assert "Rina's drill" in everyone
    assert "Nobody's licence" in everyone

    mine = await jamal.send("/obligations mine")

    assert mine.startswith("<b>Your obligations</b> (page 1)")
    assert "Rina's drill" not in mine
    assert "Nobody's licence" not in mine
    lines = mine.splitlines()
    assert "Late one" in lines[1]  # overdue first
    assert "Jamal's task 0" in lines[2]
    assert "Jamal's task 4" not in mine  # five a page
    next_page = ObligationPageButton(window="mine", page=1).pack()
    assert next_page in [data for _, data in jamal.buttons()]
    second = await jamal.press(next_page)
    assert "Jamal's task 4" in second
    assert "Jamal's task 5" in second
    assert "Late one" not in second
    assert "Rina's drill" not in second

    assert "Rina's drill" in await rina.send("/obligations MINE")
    stranger = await member(world, acme, AppRole.operator, acme.chattogram, "Opu")
    assert "You own no open obligation." in await stranger.send("/obligations mine")
    assert "/obligations mine" in await jamal.send("/help")
    assert "overdue, today, week, all or mine" in await jamal.send("/obligations yours")


async def test_details_shows_the_owner_in_the_readers_language(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    jamal = await jamal_uddin(world, acme)
    manager = await member(
        world, acme, AppRole.branch_manager, acme.dhaka, "Mina", language_code="bn"
    )
    fire = await owned(
        world, acme, acme.dhaka, "Fire drill", due_in_days=3, owner=await user_id_of(world, jamal)
    )
    loose = await owned(world, acme, acme.dhaka, "Trade licence", due_in_days=4, owner=None)

    await jamal.send("/obligations mine")
    shown = await jamal.press(ObligationButton(action="details", id=fire).pack())
    assert "Fire drill" in shown
    assert "Owner: Jamal Uddin" in shown

    await manager.send("/obligations")
    in_bengali = await manager.press(ObligationButton(action="details", id=fire).pack())
    assert "দায়িত্বে: Jamal Uddin" in in_bengali
    unowned = await manager.press(ObligationButton(action="details", id=loose).pack())
    assert "Trade licence" in unowned
    assert "Jamal Uddin" not in unowned
    assert "/obligations mine" in await manager.send("/help")
