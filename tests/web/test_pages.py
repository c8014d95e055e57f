"""The dashboard's pages over real HTTP, on a seeded company: what each shows, to whom.

Head office sees both branches; a branch manager of Dhaka sees Dhaka only, and Chattogram's
rows are not found. Proof downloads are byte for byte; acknowledging from the web records
the acknowledgement with its note and queues the edit of every Telegram copy.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from core.db.enums import AppRole, NotificationEventType, Severity
from core.db.session import Database
from core.notify.events import emit_event
from core.notify.models import Acknowledgement, NotificationEvent
from core.obligations.actions import complete_obligation
from core.obligations.documents import UploadLimits
from tests.companies import PDF, Company, company, obligation, person
from tests.core.obligations.helpers import upload_proof
from tests.web.conftest import Browser, DashboardServer

LIMITS = UploadLimits(max_bytes=1 << 20, files_per_day=50, bytes_per_day=1 << 24)


def row_ids(page: str, testid: str) -> set[str]:
    return set(re.findall(rf'data-testid="{testid}" data-id="([^"]+)"', page))


async def seeded(db: Database) -> tuple[Company, uuid.UUID, uuid.UUID]:
    acme = await company(db)
    dhaka = await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=-3, proof=True)
    ctg = await obligation(db, acme, acme.chattogram, "Trade licence", due_in_days=5, proof=False)
    return acme, dhaka, ctg


async def test_head_office_sees_the_company_and_filters_it(db: Database, browser: Browser) -> None:
    acme, dhaka, ctg = await seeded(db)
    admin = await person(db, acme.tenant, AppRole.head_office_admin, name="Rahima")
    overview = await browser.sign_in(admin)
    assert overview.count('data-testid="branch-row"') == 2
    overdue = re.search(r'data-testid="card-overdue"[^>]*><span class="figure">(\d+)', overview)
    assert overdue is not None
    assert overdue.group(1) == "1"

    everything = await browser.get("/obligations")
    assert row_ids(everything, "obligation-row") == {str(dhaka), str(ctg)}
    only_ctg = await browser.get("/obligations?branch=CTG-02")
    assert row_ids(only_ctg, "obligation-row") == {str(ctg)}
    late = await browser.get("/obligations?window=overdue")
    assert row_ids(late, "obligation-row") == {str(dhaka)}
    refused = await browser.get("/obligations?window=someday", status=400)
    assert "someday" in refused

    month = await browser.get("/calendar")
    assert "Fire drill" in month
    assert 'data-testid="calendar-day"' in month


async def test_a_manager_sees_only_their_branch(db: Database, browser: Browser) -> None:
    acme, dhaka, ctg = await seeded(db)
    manager = await person(db, acme.tenant, AppRole.branch_manager, [acme.dhaka])
    await browser.sign_in(manager)
    listed = await browser.get("/obligations")
    assert row_ids(listed, "obligation-row") == {str(dhaka)}
    await browser.get(f"/obligations/{ctg}", status=404)
    await browser.get("/obligations?branch=CTG-02", status=400)
    await browser.get("/audit", status=403)


async def test_proof_downloads_byte_for_byte_and_history_shows(
    db: Database, browser: Browser, dashboard: DashboardServer
) -> None:
    acme, dhaka, _ = await seeded(db)
    admin = await person(db, acme.tenant, AppRole.head_office_admin)
    result = await upload_proof(admin, dhaka, "licence ১.pdf", PDF, dashboard.storage, LIMITS)
    async with admin() as (session, actor):
        await complete_obligation(session, actor, dhaka)
    await browser.sign_in(admin)
    page = await browser.get(f"/obligations/{dhaka}")
    link = re.search(r'data-testid="document-link" href="/app([^"]+)"', page)
    assert link is not None
    body, response = await browser.get_bytes(link.group(1))
    assert response.status == 200
    assert body == PDF
    assert "filename*=UTF-8''licence%20%E0%A7%A7.pdf" in response.headers["Content-Disposition"]
    assert result.document.id.hex[:4] in link.group(1).replace("-", "")
    assert 'data-testid="audit-row"' in page
    assert "completed" in page


async def test_acknowledging_an_alert_from_the_web(db: Database, browser: Browser) -> None:
    acme, _, _ = await seeded(db)
    manager = await person(db, acme.tenant, AppRole.branch_manager, [acme.dhaka])
    async with db.tenant_uow(acme.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=acme.tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.critical,
            fingerprint=f"web:{uuid.uuid4().hex}",
            payload={"hostname": "shop.intrex.test", "port": 443, "error": "handshake"},
            branch_id=acme.dhaka.id,
        )
    assert event is not None
    await browser.sign_in(manager)
    alerts = await browser.get("/alerts")
    assert row_ids(alerts, "alert-row") == {str(event.id)}
    done = await browser.post(f"/alerts/{event.id}/acknowledge", {"note": "Renewing today"})
    assert 'data-testid="acknowledged"' in done
    assert row_ids(done, "alert-row") == set()
    async with db.tenant_uow(acme.tenant.id) as session:
        ack = await session.scalar(
            select(Acknowledgement).where(Acknowledgement.notification_event_id == event.id)
        )
        status = await session.scalar(
            select(NotificationEvent.status).where(NotificationEvent.id == event.id)
        )
    assert ack is not None
    assert ack.ack_note == "Renewing today"
    assert status == "acked"


async def test_pages_in_bengali(db: Database, dashboard: DashboardServer) -> None:
    acme, _, _ = await seeded(db)
    admin = await person(db, acme.tenant, AppRole.head_office_admin)
    visitor = Browser(dashboard, language="bn")
    try:
        overview = await visitor.sign_in(admin)
        assert "সারসংক্ষেপ" in overview
        for path in ("/obligations", "/calendar", "/certificates", "/alerts", "/audit", "/people"):
            page = await visitor.get(path)
            assert 'lang="bn"' in page
    finally:
        await visitor.close()
