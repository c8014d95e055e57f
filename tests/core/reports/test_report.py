"""The report (SPEC §7) of a seeded company, against a hand computation of every score.

Acme has five branches. Each obligation is a one-off template made by the real service; the
waivers are made by the real action (one by the manager Karim Ahmed, two from the command
line, one of them 40 days ago); certificates and their checks are rows as the checker
writes them; alerts are real events. The scores below are worked out by hand from the
README's formula, in thirtieths of a point:

    KHL-04  critical 2 days late 8×(30+2)=256, 11 due soon (cap 10) 300, expired cert 450
            = 1006 → 33.53 → 34 lost → 66
    DHK-01  critical 45 days late 8×(30+30)=480, medium 3 days late 2×(30+3)=66,
            2 due soon 60, 1 cert expiring 150 = 756 → 25.2 → 26 lost → 74 (the README's example)
    CTG-02  high 10 days late 4×(30+10)=160, 1 cert failing 300 = 460 → 15.33 → 16 lost → 84
    BAR-05, SYL-03  nothing open: 100 each, BAR-05 first (ties by code)

A second company with an overdue obligation of its own never shows in Acme's report.
"""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from core.clock import utc_now
from core.crypto import SecretBox, generate_key
from core.db.enums import (
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    Severity,
    SslCheckStatus,
)
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.events import emit_event
from core.notify.models import NotificationDelivery
from core.obligations.actions import complete_obligation, waive_obligation
from core.obligations.models import ObligationInstance
from core.obligations.recurrence import Recurrence
from core.obligations.templates import TemplateSpec, create_template
from core.reports.chart import HEIGHT_PX, WIDTH_PX, drawable, health_chart
from core.reports.health import HealthBand, HealthFacts, band, health_score, penalty
from core.reports.policy import can_view_report
from core.reports.service import Report, build_report
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch, Tenant
from core.tenancy.scope import ActorUnits, console_unit
from tests.companies import Company, company, new_branch, person

ROOT = Path(__file__).resolve().parents[3]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RANKING = [("KHL-04", 66), ("DHK-01", 74), ("CTG-02", 84), ("BAR-05", 100), ("SYL-03", 100)]


@dataclass
class Acme:
    firm: Company
    khulna: Branch
    sylhet: Branch
    barishal: Branch
    karim: ActorUnits
    """Branch manager of DHK-01 and CTG-02."""
    rahim: ActorUnits
    """Operator of DHK-01."""
    today: date

    @property
    def tenant(self) -> Tenant:
        return self.firm.tenant


async def due(
    db: Database,
    tenant: Tenant,
    branch: Branch,
    title: str,
    days: int,
    severity: Severity,
    category: ObligationCategory,
) -> uuid.UUID:
    """A one-off obligation of `branch` due `days` after the tenant's today; its id."""
    async with console_unit(db, tenant.id) as (session, actor):
        created = await create_template(
            session,
            actor,
            TemplateSpec(
                category=category,
                title=title,
                recurrence=Recurrence.none,
                severity=severity,
                anchor_date=actor.today + timedelta(days=days),
                branch_id=branch.id,
            ),
        )
    async with db.tenant_uow(tenant.id) as session:
        found = await session.scalar(
            select(ObligationInstance.id).where(
                ObligationInstance.template_id == created.template.id
            )
        )
    assert found is not None
    return found


async def certificate(
    db: Database,
    tenant: Tenant,
    branch: Branch | None,
    host: str,
    status: SslCheckStatus | None,
    days: list[int | None],
    *,
    paused: bool = False,
) -> None:
    """A monitored domain and its checks, oldest first (the last one is its state)."""
    moment = utc_now()
    async with db.tenant_uow(tenant.id) as session:
        domain = Domain(
            tenant_id=tenant.id,
            branch_id=branch.id if branch else None,
            hostname=host,
            port=443,
            status=status,
            last_checked_at=moment if status else None,
            paused_at=moment if paused else None,
        )
        session.add(domain)
        await session.flush()
        for age, remaining in enumerate(reversed(days)):
            assert status is not None
            session.add(
                SslCheckResult(
                    tenant_id=tenant.id,
                    domain_id=domain.id,
                    check_status=status,
                    days_remaining=remaining,
                    checked_at=moment - timedelta(days=age),
                )
            )


async def alert(
    db: Database,
    tenant: Tenant,
    branch: Branch | None,
    event_type: NotificationEventType,
    severity: Severity,
    payload: Mapping[str, object],
) -> None:
    async with db.tenant_uow(tenant.id) as session:
        await emit_event(
            session,
            tenant_id=tenant.id,
            event_type=event_type,
            severity=severity,
            fingerprint=f"report-test:{uuid.uuid4().hex}",
            payload={**payload, "branch_code": branch.code} if branch else dict(payload),
            branch_id=branch.id if branch else None,
        )


async def seed_acme(db: Database, name: str | None = None) -> Acme:
    """The company of the module docstring, through the real services."""
    firm = await company(db, name=name)
    tenant, dhaka, chattogram = firm.tenant, firm.dhaka, firm.chattogram
    sylhet = await new_branch(db, tenant, "SYL-03", name="Sylhet")
    khulna = await new_branch(db, tenant, "KHL-04", name="Khulna")
    barishal = await new_branch(db, tenant, "BAR-05", name="Barishal")
    karim = await person(
        db, tenant, AppRole.branch_manager, [dhaka, chattogram], name="Karim Ahmed"
    )
    rahim = await person(db, tenant, AppRole.operator, [dhaka], name="Rahim")
    async with console_unit(db, tenant.id) as (_, actor):
        today = actor.today
    c = ObligationCategory
    await due(db, tenant, dhaka, "Fire certificate", -45, Severity.critical, c.fire_safety)
    await due(db, tenant, dhaka, "VAT return", -3, Severity.medium, c.tax_vat)
    await due(db, tenant, dhaka, "Lift inspection", 0, Severity.high, c.inspection_renewal)
    await due(db, tenant, dhaka, "VAT return (next)", 7, Severity.low, c.tax_vat)
    await due(db, tenant, dhaka, "Trade licence", 8, Severity.low, c.trade_license)
    done = await due(db, tenant, dhaka, "Fire drill", -10, Severity.high, c.fire_safety)
    await due(db, tenant, chattogram, "Trade licence", -10, Severity.high, c.trade_license)
    excused = await due(db, tenant, chattogram, "Sprinklers", -20, Severity.critical, c.fire_safety)
    await due(db, tenant, khulna, "Effluent permit", -2, Severity.critical, c.environmental_permit)
    for number, days in enumerate((1, 1, 2, 3, 4, 5, 5, 6, 7, 7, 7), start=1):
        await due(
            db, tenant, khulna, f"Boiler check {number}", days, Severity.low, c.inspection_renewal
        )
    waived_here = await due(db, tenant, barishal, "VAT return", -5, Severity.medium, c.tax_vat)
    waived_long_ago = await due(db, tenant, sylhet, "VAT return", -50, Severity.medium, c.tax_vat)

    async with karim() as (session, actor):
        await complete_obligation(session, actor, done)
        await waive_obligation(
            session, actor, excused, "Shop closed for renovation", now=utc_now() - timedelta(days=1)
        )
    async with console_unit(db, tenant.id) as (session, actor):
        await waive_obligation(
            session, actor, waived_here, "Filed by the landlord", now=utc_now() - timedelta(days=2)
        )
        await waive_obligation(
            session, actor, waived_long_ago, "Old", now=utc_now() - timedelta(days=40)
        )

    await certificate(db, tenant, dhaka, "shop.acme.test", SslCheckStatus.warning, [40, 12])
    await certificate(db, tenant, dhaka, "www.acme.test", SslCheckStatus.ok, [200])
    await certificate(db, tenant, dhaka, "old.acme.test", SslCheckStatus.expired, [-1], paused=True)
    await certificate(
        db, tenant, chattogram, "pos.acme.test", SslCheckStatus.handshake_failed, [None]
    )
    await certificate(db, tenant, khulna, "khl.acme.test", SslCheckStatus.expired, [-3])
    await certificate(db, tenant, None, "hq.acme.test", SslCheckStatus.expired, [-10])
    await certificate(db, tenant, sylhet, "new.acme.test", None, [])

    hq = {"host": "hq.acme.test", "port": 443, "status": "expired"}
    licence = {"title": "Trade licence", "days_left": -10}
    shop = {"host": "shop.acme.test", "port": 443, "status": "warning", "days_remaining": 12}
    digest = {"today": today.isoformat()}
    await alert(db, tenant, None, NotificationEventType.ssl_failure, Severity.critical, hq)
    await alert(
        db, tenant, chattogram, NotificationEventType.obligation_overdue, Severity.high, licence
    )
    await alert(db, tenant, dhaka, NotificationEventType.ssl_expiry, Severity.medium, shop)
    await alert(db, tenant, dhaka, NotificationEventType.digest, Severity.low, digest)
    return Acme(firm, khulna, sylhet, barishal, karim, rahim, today)


async def head_office_report(db: Database, acme: Acme, branch: str | None = None) -> Report:
    async with console_unit(db, acme.tenant.id) as (session, actor):
        return await build_report(session, actor, branch_code=branch)


@pytest.fixture
async def acme(db: Database) -> Acme:
    return await seed_acme(db)


def test_the_readme_example_and_the_caps() -> None:
    example = HealthFacts(
        overdue={Severity.critical: 1, Severity.medium: 1},
        days_late={Severity.critical: 30, Severity.medium: 3},
        due_soon=2,
        certificates_expiring=1,
    )
    assert penalty(example) == Fraction(252, 10)
    assert health_score(example) == 74
    assert band(74) is HealthBand.fair
    assert health_score(HealthFacts()) == 100
    assert health_score(HealthFacts(due_soon=1)) == 99
    assert health_score(HealthFacts(due_soon=500)) == 90
    assert health_score(HealthFacts(certificates_expired=7)) == 0
    assert health_score(HealthFacts(overdue={Severity.low: 1}, days_late={Severity.low: 1})) == 98
    assert [band(score) for score in (100, 80, 79, 50, 49, 0)] == [
        HealthBand.good,
        HealthBand.good,
        HealthBand.fair,
        HealthBand.fair,
        HealthBand.poor,
        HealthBand.poor,
    ]


async def test_head_office_sees_the_hand_computed_scores_worst_first(
    db: Database, acme: Acme
) -> None:
    report = await head_office_report(db, acme)
    assert [(row.code, row.score) for row in report.branches] == RANKING
    assert [row.band for row in report.branches] == [
        HealthBand.fair,
        HealthBand.fair,
        HealthBand.good,
        HealthBand.good,
        HealthBand.good,
    ]
    khulna, dhaka, chattogram = report.branches[:3]
    assert dhaka.facts.overdue == {
        Severity.critical: 1,
        Severity.high: 0,
        Severity.medium: 1,
        Severity.low: 0,
    }
    assert dhaka.facts.days_late[Severity.critical] == 30  # 45 days late, capped
    assert (dhaka.facts.due_soon, dhaka.facts.certificates_expiring) == (2, 1)
    assert (khulna.facts.due_soon, khulna.facts.certificates_expired) == (11, 1)
    assert chattogram.facts.certificates_failing == 1
    assert chattogram.facts.overdue_total == 1  # the waived one is not open

    assert [(t.category, t.overdue, t.due_soon, t.waived) for t in report.categories] == [
        (ObligationCategory.trade_license, 1, 0, 0),
        (ObligationCategory.fire_safety, 1, 0, 1),
        (ObligationCategory.tax_vat, 1, 1, 1),
        (ObligationCategory.environmental_permit, 1, 0, 0),
        (ObligationCategory.inspection_renewal, 0, 12, 0),
    ]
    assert report.overdue.total == 4
    assert [(i.branch_code, i.title, i.days_left) for i in report.overdue.items] == [
        ("DHK-01", "Fire certificate", -45),
        ("KHL-04", "Effluent permit", -2),
        ("CTG-02", "Trade licence", -10),
        ("DHK-01", "VAT return", -3),
    ]
    assert report.due_soon.total == 13
    assert len(report.due_soon.items) == 13
    assert (report.due_soon.items[0].title, report.due_soon.items[0].days_left) == (
        "Lift inspection",
        0,
    )
    assert [item.days_left for item in report.due_soon.items] == sorted(
        item.days_left for item in report.due_soon.items
    )

    assert report.certificates.total == 4
    assert [
        (c.target, c.branch_code, c.status, c.days_remaining) for c in report.certificates.items
    ] == [
        ("hq.acme.test", None, SslCheckStatus.expired, -10),
        ("khl.acme.test", "KHL-04", SslCheckStatus.expired, -3),
        ("pos.acme.test", "CTG-02", SslCheckStatus.handshake_failed, None),
        ("shop.acme.test", "DHK-01", SslCheckStatus.warning, 12),
    ]

    assert report.alerts.total == 3
    assert [(a.branch_code, a.event_type) for a in report.alerts.items] == [
        ("DHK-01", NotificationEventType.ssl_expiry),
        ("CTG-02", NotificationEventType.obligation_overdue),
        (None, NotificationEventType.ssl_failure),
    ]

    assert report.waivers.total == 2
    assert [(w.branch_code, w.title, w.reason, w.waived_by) for w in report.waivers.items] == [
        ("CTG-02", "Sprinklers", "Shop closed for renovation", "Karim Ahmed"),
        ("BAR-05", "VAT return", "Filed by the landlord", None),
    ]
    document = report.as_dict()
    assert [(row["code"], row["score"]) for row in document["branches"]] == RANKING
    assert document["waivers"]["items"][0]["waived_by"] == "Karim Ahmed"


async def test_one_branch_alone(db: Database, acme: Acme) -> None:
    report = await head_office_report(db, acme, "dhk-01")
    assert report.branch_code == "DHK-01"
    assert [(row.code, row.score) for row in report.branches] == [("DHK-01", 74)]
    assert (report.overdue.total, report.due_soon.total) == (2, 2)
    assert [c.target for c in report.certificates.items] == ["shop.acme.test"]
    assert report.alerts.total == 1
    assert report.waivers.total == 0
    with pytest.raises(NotFoundError) as unknown:
        await head_office_report(db, acme, "ZZZ-99")
    assert unknown.value.code is ErrorCode.branch_not_found


async def test_a_manager_sees_their_branches_only(db: Database, acme: Acme) -> None:
    async with acme.karim() as (session, actor):
        report = await build_report(session, actor)
    assert [(row.code, row.score) for row in report.branches] == [("DHK-01", 74), ("CTG-02", 84)]
    assert report.overdue.total == 3
    assert [c.target for c in report.certificates.items] == ["pos.acme.test", "shop.acme.test"]
    assert report.alerts.total == 2
    assert [w.waived_by for w in report.waivers.items] == ["Karim Ahmed"]
    assert {t.category: t.due_soon for t in report.categories}[
        ObligationCategory.inspection_renewal
    ] == 1
    async with acme.karim() as (session, actor):
        one = await build_report(session, actor, branch_code="CTG-02")
    assert [row.code for row in one.branches] == ["CTG-02"]
    for other in ("KHL-04", "ZZZ-99"):
        async with acme.karim() as (session, actor):
            with pytest.raises(NotFoundError) as refused:
                await build_report(session, actor, branch_code=other)
        assert refused.value.code is ErrorCode.branch_not_in_scope


async def test_an_operator_is_refused(db: Database, acme: Acme) -> None:
    async with acme.rahim() as (session, actor):
        assert not can_view_report(actor)
        with pytest.raises(PermissionDeniedError) as refused:
            await build_report(session, actor)
    assert refused.value.code is ErrorCode.managers_only
    async with acme.karim() as (_, actor):
        assert can_view_report(actor)


async def test_another_company_is_invisible(db: Database, acme: Acme) -> None:
    rival = await company(db)
    await due(
        db,
        rival.tenant,
        rival.dhaka,
        "Rival licence",
        -30,
        Severity.critical,
        ObligationCategory.trade_license,
    )
    await certificate(db, rival.tenant, rival.dhaka, "rival.test", SslCheckStatus.expired, [-5])
    report = await head_office_report(db, acme)
    assert [(row.code, row.score) for row in report.branches] == RANKING
    assert (report.overdue.total, report.certificates.total) == (4, 4)
    async with console_unit(db, rival.tenant.id) as (session, actor):
        theirs = await build_report(session, actor)
    assert [(row.code, row.score) for row in theirs.branches] == [("DHK-01", 69), ("CTG-02", 100)]
    assert (theirs.waivers.total, theirs.alerts.total) == (0, 0)


async def test_the_chart_is_a_phone_sized_png(db: Database, acme: Acme) -> None:
    report = await head_office_report(db, acme)
    for language in ("en", "bn"):
        png = health_chart(report.branches, language, today=report.today)
        assert png.startswith(PNG_SIGNATURE)
        image = Image.open(io.BytesIO(png))
        image.verify()
        assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX)
        assert 10_000 < len(png) < 300_000
    assert not drawable("শাখার স্বাস্থ্য")
    assert drawable("DHK-01 74")
    empty = health_chart([], "en", today=date(2026, 12, 2))
    assert Image.open(io.BytesIO(empty)).size == (WIDTH_PX, HEIGHT_PX)


def test_the_chart_never_touches_pyplot() -> None:
    """In a fresh interpreter: drawing a chart imports no pyplot (no global figures)."""
    script = (
        "import sys, datetime; from core.reports.chart import health_chart; "
        "health_chart([], 'en', today=datetime.date(2026, 12, 2)); "
        "sys.exit('matplotlib.pyplot' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert done.returncode == 0


async def test_head_offices_company_report_carries_connector_health(
    db: Database, acme: Acme
) -> None:
    """Each connector's last 7 days in head office's company report (and its JSON); not in a
    manager's, nor in one branch's."""
    box = SecretBox([generate_key()])
    spec = ConnectorSpec(type=ConnectorType.webhook, name="ops", url="https://hooks.acme.test/x")
    added = await add_connector(db, box, acme.tenant, spec, allow_private=False)
    async with db.tenant_uow(acme.tenant.id) as session:
        emitted = await emit_event(
            session,
            tenant_id=acme.tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.high,
            fingerprint="report-test:health",
            payload={"host": "hq.acme.test", "port": 443, "status": "expired"},
        )
        assert emitted is not None
        event = emitted.id
        for attempt, status in enumerate(
            (NotificationStatus.failed, NotificationStatus.sent, NotificationStatus.sent), 1
        ):
            session.add(
                NotificationDelivery(
                    tenant_id=acme.tenant.id,
                    notification_event_id=event,
                    connector_id=added.connector.id,
                    attempt_no=attempt,
                    delivery_status=status,
                    sent_at=utc_now() if status is NotificationStatus.sent else None,
                    error="HTTP 503" if status is NotificationStatus.failed else None,
                )
            )
    report = await head_office_report(db, acme)
    [ops] = report.connectors
    assert (ops.name, ops.deliveries, ops.failures) == ("ops", 3, 1)
    assert ops.success_rate == pytest.approx(2 / 3)
    assert report.as_dict()["connectors"][0]["success_rate"] == pytest.approx(0.6667)
    assert (await head_office_report(db, acme, "DHK-01")).connectors == []
    async with acme.karim() as (session, actor):
        assert (await build_report(session, actor)).connectors == []
