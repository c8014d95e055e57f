"""/templates from the chat, through the real dispatcher to the Bot API stand-in: head office
adopts the catalogue with buttons, opens a template and deactivates it; managers and
operators are refused in their language, on the command and on forged presses alike."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.callbacks import CatalogueButton, TemplateButton, TemplatePageButton
from core.db.enums import AppRole
from core.errors import ErrorCode, PermissionDeniedError
from core.i18n.errors import render_error
from core.obligations.catalogue import catalogue
from core.obligations.models import ObligationInstance, ObligationTemplate
from tests.bot.conftest import BotWorld, member
from tests.companies import Company, company


async def stored(world: BotWorld, acme: Company) -> tuple[dict[str, str], int]:
    """Each template's catalogue key and status, and how many instances exist."""
    async with world.db.tenant_uow(acme.tenant.id) as session:
        rows = await session.execute(
            select(ObligationTemplate.catalogue_key, ObligationTemplate.status)
        )
        instances = await session.scalar(select(func.count()).select_from(ObligationInstance))
    return {str(key): status for key, status in rows}, int(instances or 0)


async def test_head_office_adopts_the_catalogue_and_deactivates_a_template(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")

    empty = await admin.send("/templates")
    assert "No templates yet" in empty
    shown = await admin.press_labelled("Adopt from catalogue")
    assert "Standard obligations" in shown
    assert "VAT return (Mushak 9.1)" in shown
    entries = catalogue("BD")
    assert len([text for text, _ in admin.buttons() if "Adopt" in text]) == len(entries) + 1

    vat = CatalogueButton(action="adopt", key="bd.vat_return").pack()
    popup = await admin.press(vat)
    assert popup.startswith("✅ Templates adopted: 1. Obligations created: 2")
    number = [entry.key for entry in entries].index("bd.vat_return") + 1
    assert f"{number} ✓ adopted" in [text for text, _ in admin.buttons()]
    keys, first = await stored(world, acme)
    assert keys == {"bd.vat_return": "active"}
    assert first == 2 * 12  # two branches, monthly, 12 months ahead
    assert await admin.press(vat) == "Already adopted."

    popup = await admin.press_labelled("Adopt all")
    assert popup.startswith(f"✅ Templates adopted: {len(entries) - 1}.")
    keys, _ = await stored(world, acme)
    assert set(keys) == {entry.key for entry in entries}
    assert not any("Adopt all" in text for text, _ in admin.buttons())

    listing = await admin.press_labelled("Back to templates")
    assert f"{len(entries)} in all" in listing
    assert "Trade licence renewal" in listing
    assert "Boiler inspection certificate" in await admin.press_labelled("Next ▶")
    assert "page 1 of 2" in await admin.press_labelled("◀ Previous")
    details = await admin.press_labelled("1 🔎")
    assert "Applies to: Bangladesh" in details
    assert "Status: active" in details
    assert "Export registration certificate renewal" in details  # trade licences first
    assert "Open obligations: 2" in details  # once a year, both branches
    assert await admin.press_labelled("Deactivate") == "⏸ Deactivated: no new obligations."
    assert "Status: deactivated" in admin.last_message()["text"]
    keys, _ = await stored(world, acme)
    assert list(keys.values()).count("inactive") == 1
    assert await admin.press_labelled("Activate") == "▶ Activated."
    keys, _ = await stored(world, acme)
    assert set(keys.values()) == {"active"}


async def test_managers_and_operators_are_refused_in_their_language(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu", language_code="bn")
    await admin.send("/templates")
    await admin.press_labelled("Adopt from catalogue")
    await admin.press(CatalogueButton(action="adopt", key="bd.boiler").pack())
    keys, instances = await stored(world, acme)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        template_id = await session.scalar(select(ObligationTemplate.id))
    assert template_id is not None
    refusal = render_error(PermissionDeniedError(ErrorCode.head_office_only), "en")
    in_bengali = render_error(PermissionDeniedError(ErrorCode.head_office_only), "bn")
    assert refusal != in_bengali

    assert await manager.send("/templates") == refusal
    assert await operator.send("/templates") == in_bengali
    forged = [
        TemplatePageButton(page=0).pack(),
        TemplateButton(action="show", id=template_id.hex).pack(),
        TemplateButton(action="deactivate", id=template_id.hex).pack(),
        CatalogueButton(action="list").pack(),
        CatalogueButton(action="all").pack(),
        CatalogueButton(action="adopt", key="bd.vat_return").pack(),
    ]
    for data in forged:
        assert await manager.press(data) == refusal
        assert await operator.press(data) == in_bengali

    assert await stored(world, acme) == (keys, instances)
    assert "/templates" in await admin.send("/help")
    assert "/templates" not in await manager.send("/help")
