"""A paused domain in the chat: /domains shows it paused (in English and Bengali), /check
still checks it on request but records nothing, and resuming brings the status back."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db.enums import AppRole
from core.ssl.models import SslCheckResult
from core.ssl.service import pause_domain, resume_domain
from core.tenancy.scope import console_unit
from tests.bot.conftest import BotWorld, member
from tests.companies import company
from tests.core.ssl.pki import Pki
from tests.core.ssl.servers import LoopbackServers


async def test_domains_shows_paused_and_check_records_nothing(
    world: BotWorld, pki: Pki, tls_servers: LoopbackServers
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Hasan")
    manager = await member(
        world, acme, AppRole.branch_manager, acme.dhaka, "Mitu", language_code="bn"
    )
    endpoint = tls_servers.tls(pki.server_context(pki.leaf("shop.intrex.test"), pki.intermediate))
    target = f"shop.intrex.test:{endpoint.port}"
    assert "Now monitoring" in await admin.send(f"/adddomain {target} DHK-01")
    assert f"{target} [DHK-01]: valid" in await admin.send("/domains")

    async with console_unit(world.db, acme.tenant.id) as (session, actor):
        await pause_domain(session, actor, target)

    listing = await admin.send("/domains")
    assert f"⏸ {target} [DHK-01]: paused since " in listing
    assert ": valid" not in listing
    bengali = await manager.send("/domains")
    assert f"⏸ {target} [DHK-01]: " in bengali
    assert "থেকে মনিটরিং স্থগিত" in bengali

    checked = await admin.send(f"/check {target}")
    assert "🟢" in checked
    assert "Monitoring is paused: this result was not recorded." in checked
    assert "এই ফলাফল সংরক্ষণ করা হয়নি" in await manager.send(f"/check {target}")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        results = await session.scalar(select(func.count()).select_from(SslCheckResult))
    assert results == 1, "only the first check, made when it was added"

    async with console_unit(world.db, acme.tenant.id) as (session, actor):
        await resume_domain(session, actor, target)
    resumed = await admin.send("/domains")
    assert f"{target} [DHK-01]: valid" in resumed
    assert "paused" not in resumed
    assert "not recorded" not in await admin.send(f"/check {target}")
