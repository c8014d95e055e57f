"""What every alert says, on every channel, in English and বাংলা (SPEC §4, §8).

The payloads are the real ones: the obligation clock's reminders and the certificate
recorder's alerts, written to PostgreSQL by the code that writes them in production, then
rendered for a reader of each language on the tenant's clock (Asia/Dhaka, UTC+6). One test
per rule: the branch's code and name; head office for a domain of no branch; dates as local
dates, never ISO; days left or late; the status in words; a subject per branch; the webhook's
fields; the dashboard link.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import ConnectorType, Language, NotificationEventType, SslCheckStatus
from core.i18n import texts_for
from core.notify.channels.base import Channel, Delivery, RenderedMessage
from core.notify.channels.email import EmailChannel
from core.notify.channels.http import GuardedHttp
from core.notify.channels.webhook import SIGNATURE_HEADER, verify, webhook_body
from core.notify.channels.whatsapp import WhatsAppChannel
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dead_letters import retry_dead_letters
from core.notify.dispatcher import Dispatcher
from core.notify.models import NotificationEvent
from core.notify.render import dashboard_link, render
from core.obligations.clock import run_obligation_clock
from core.obligations.recurrence import Recurrence
from core.ssl.certificates import CertificateFacts
from core.ssl.checker import CheckOutcome
from core.ssl.models import Domain
from core.ssl.recording import record_outcome
from core.tenancy.models import Branch
from tests.companies import new_branch
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import WEBHOOK_SECRET, route, subject_of, webhook
from tests.core.obligations.helpers import new_template
from tests.peers import SmtpServer, WebhookReceiver

NOW = datetime(2026, 3, 6, 6, 0, tzinfo=UTC)
"""Noon in Dhaka: the tenant's local date is 6 March 2026."""
CREATED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ZONE = "Asia/Dhaka"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LANGUAGES = [Language.en, Language.bn]

WORDS: dict[Language, dict[str, str]] = {
    Language.en: {
        "dhaka": "Branch: DHK-01 — Dhaka",
        "chattogram": "Branch: CTG-02 — Chattogram",
        "head_office": "Head office (no branch)",
        "head_office_headline": "Certificate check failed: intranet.example.com:8443 (head office)",
        "due_on": "Due: 11 Mar 2026",
        "late_due_on": "Due: 03 Mar 2026",
        "expires_on": "Certificate expires on 13 Mar 2026",
        "expired_on": "Certificate expired on 03 Mar 2026",
        "last_expires_on": "Last certificate read expires on 05 Jun 2026",
        "due_in_5": "Due in 5 days",
        "late_by_3": "Overdue by 3 days",
        "due_today": "Due today",
        "expires_in_6": "Expires in 6 days",
        "expired_3_ago": "Expired 3 days ago",
        "upcoming": "Status: upcoming",
        "overdue": "Status: overdue",
        "status_due_today": "Status: due today",
        "warning": "Status: expiring soon",
        "expired": "Status: expired",
        "dns_failed": "Status: name does not resolve",
        "subject_dhaka": "[Intrex high] Due soon: Trade licence (DHK-01)",
        "subject_chattogram": "[Intrex high] Due soon: Trade licence (CTG-02)",
        "link": "Open in the Intrex dashboard: ",
    },
    Language.bn: {
        "dhaka": "শাখা: DHK-01 — Dhaka",
        "chattogram": "শাখা: CTG-02 — Chattogram",
        "head_office": "হেড অফিস (কোনো শাখার অধীনে নয়)",
        "head_office_headline": "সার্টিফিকেট যাচাই ব্যর্থ: intranet.example.com:8443 (হেড অফিস)",
        "due_on": "শেষ তারিখ: ১১ মার্চ ২০২৬",
        "late_due_on": "শেষ তারিখ: ৩ মার্চ ২০২৬",
        "expires_on": "সার্টিফিকেটের মেয়াদ শেষ হবে ১৩ মার্চ ২০২৬ তারিখে",
        "expired_on": "সার্টিফিকেটের মেয়াদ শেষ হয়েছে ৩ মার্চ ২০২৬ তারিখে",
        "last_expires_on": "সর্বশেষ পড়া সার্টিফিকেটের মেয়াদ শেষ হবে ৫ জুন ২০২৬ তারিখে",
        "due_in_5": "৫ দিন বাকি",
        "late_by_3": "মেয়াদ পেরিয়েছে ৩ দিন",
        "due_today": "আজ শেষ তারিখ",
        "expires_in_6": "মেয়াদ শেষ হতে ৬ দিন বাকি",
        "expired_3_ago": "মেয়াদ শেষ হয়েছে ৩ দিন আগে",
        "upcoming": "অবস্থা: আসন্ন",
        "overdue": "অবস্থা: মেয়াদোত্তীর্ণ",
        "status_due_today": "অবস্থা: আজ শেষ তারিখ",
        "warning": "অবস্থা: শীঘ্রই মেয়াদ শেষ",
        "expired": "অবস্থা: মেয়াদ শেষ",
        "dns_failed": "অবস্থা: নামটি রিজলভ হচ্ছে না",
        "subject_dhaka": "[Intrex উচ্চ] শেষ তারিখ আসছে: Trade licence (DHK-01)",
        "subject_chattogram": "[Intrex উচ্চ] শেষ তারিখ আসছে: Trade licence (CTG-02)",
        "link": "Intrex ড্যাশবোর্ডে খুলুন: ",
    },
}


@dataclass
class Scene:
    """The alerts of one morning, as the clock and the certificate recorder wrote them."""

    world: World
    chattogram: Branch
    events: dict[str, NotificationEvent]

    def text(self, name: str, language: Language) -> str:
        return self.rendered(name, language).text

    def rendered(self, name: str, language: Language) -> RenderedMessage:
        event = self.events[name]
        return render(
            event.event_type.value,
            event.severity.value,
            event.payload_json,
            texts_for(language),
            ZONE,
        )


def certificate(valid_to: datetime, fingerprint: str) -> CertificateFacts:
    return CertificateFacts(
        valid_from=valid_to - timedelta(days=90),
        valid_to=valid_to,
        issuer_cn="Test CA",
        subject_cn=None,
        dns_names=("*.example.com",),
        fingerprint_sha256=fingerprint,
    )


def outcome(
    host: str,
    port: int,
    status: SslCheckStatus,
    at: datetime,
    cert: CertificateFacts | None = None,
    detail: str | None = None,
) -> CheckOutcome:
    return CheckOutcome(
        host=host,
        port=port,
        status=status,
        checked_at=at,
        elapsed_seconds=0.1,
        certificate=cert,
        days_remaining=cert.days_remaining(at) if cert else None,
        error_detail=detail,
    )


async def record_checks(
    world: World, branch: Branch | None, host: str, port: int, checks: list[CheckOutcome]
) -> list[NotificationEvent]:
    """Register a domain and record its checks as the scheduler does (the recorder's payloads)."""
    raised: list[NotificationEvent] = []
    async with world.db.tenant_uow(world.tenant.id) as session:
        domain = Domain(
            tenant_id=world.tenant.id,
            branch_id=branch.id if branch else None,
            hostname=host,
            port=port,
        )
        session.add(domain)
        await session.flush()
        for check in checks:
            recorded = await record_outcome(
                session,
                domain,
                check,
                notify_days=[30, 14, 7, 3, 1],
                next_check_at=check.checked_at + timedelta(hours=6),
                branch_code=branch.code if branch else None,
            )
            raised.extend(recorded.events)
    return raised


@pytest.fixture
async def scene(world: World) -> Scene:
    db, tenant = world.db, world.tenant
    chattogram = await new_branch(db, tenant, "CTG-02", name="Chattogram")
    for branch, title, due in [
        (world.branch, "Trade licence", date(2026, 3, 11)),
        (chattogram, "Trade licence", date(2026, 3, 11)),
        (chattogram, "VAT return", date(2026, 3, 3)),
        (world.branch, "Fire safety certificate", date(2026, 3, 6)),
    ]:
        await new_template(
            db,
            tenant,
            anchor=due,
            recurrence=Recurrence.none,
            branch=branch,
            title=title,
            now=CREATED,
        )
    report = await run_obligation_clock(db, now=NOW)
    assert (report.due_reminders, report.overdue_reminders) == (3, 1)

    [expiring] = await record_checks(
        world,
        world.branch,
        "shop.example.com",
        443,
        [
            outcome(
                "shop.example.com",
                443,
                SslCheckStatus.warning,
                NOW,
                certificate(datetime(2026, 3, 12, 18, 34, 34, tzinfo=UTC), "a" * 64),
            )
        ],
    )
    [expired] = await record_checks(
        world,
        chattogram,
        "old.example.com",
        443,
        [
            outcome(
                "old.example.com",
                443,
                SslCheckStatus.expired,
                NOW,
                certificate(datetime(2026, 3, 2, 19, 0, tzinfo=UTC), "b" * 64),
            )
        ],
    )
    [unresolvable] = await record_checks(
        world,
        None,
        "intranet.example.com",
        8443,
        [
            outcome(
                "intranet.example.com",
                8443,
                SslCheckStatus.ok,
                NOW - timedelta(days=1),
                certificate(datetime(2026, 6, 4, 20, 0, tzinfo=UTC), "c" * 64),
            ),
            outcome(
                "intranet.example.com",
                8443,
                SslCheckStatus.dns_failed,
                NOW,
                detail="NXDOMAIN",
            ),
        ],
    )
    async with db.tenant_uow(tenant.id) as session:
        reminders = list(
            await session.scalars(
                select(NotificationEvent).where(
                    NotificationEvent.event_type.in_(
                        [
                            NotificationEventType.obligation_due,
                            NotificationEventType.obligation_overdue,
                        ]
                    )
                )
            )
        )

    def reminder(title: str, code: str) -> NotificationEvent:
        [found] = [
            event
            for event in reminders
            if event.payload_json["title"] == title and event.payload_json["branch_code"] == code
        ]
        return found

    return Scene(
        world,
        chattogram,
        {
            "due_dhaka": reminder("Trade licence", "DHK-01"),
            "due_chattogram": reminder("Trade licence", "CTG-02"),
            "overdue": reminder("VAT return", "CTG-02"),
            "due_today": reminder("Fire safety certificate", "DHK-01"),
            "expiring": expiring,
            "expired": expired,
            "unresolvable": unresolvable,
        },
    )


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_alert_names_its_branch_by_code_and_name(
    scene: Scene, language: Language
) -> None:
    words = WORDS[language]
    for name in ("due_dhaka", "due_today", "expiring"):
        assert words["dhaka"] in scene.text(name, language), name
    for name in ("due_chattogram", "overdue", "expired"):
        assert words["chattogram"] in scene.text(name, language), name
    assert scene.events["expiring"].payload_json["branch_name"] == "Dhaka"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_domain_of_no_branch_belongs_to_head_office(
    scene: Scene, language: Language
) -> None:
    event = scene.events["unresolvable"]
    assert event.payload_json["head_office"] is True
    assert event.payload_json["branch_code"] is None
    message = scene.rendered("unresolvable", language)
    lines = message.text.splitlines()
    assert lines[0].endswith(WORDS[language]["head_office_headline"])
    assert lines[1] == WORDS[language]["head_office"]
    assert message.subject.endswith(WORDS[language]["head_office_headline"])
    assert WORDS[language]["head_office"] not in scene.text("expiring", language)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_due_dates_and_expiries_are_local_dates_never_iso(
    scene: Scene, language: Language
) -> None:
    words = WORDS[language]
    assert words["due_on"] in scene.text("due_dhaka", language)
    assert words["late_due_on"] in scene.text("overdue", language)
    # 18:34 UTC on the 12th is the 13th in Dhaka; 19:00 UTC on the 2nd is the 3rd.
    assert scene.events["expiring"].payload_json["valid_to"] == "2026-03-12T18:34:34+00:00"
    assert words["expires_on"] in scene.text("expiring", language)
    assert words["expired_on"] in scene.text("expired", language)
    # No certificate read now: the last one read says when it ends.
    assert scene.events["unresolvable"].payload_json["valid_to"] is None
    assert words["last_expires_on"] in scene.text("unresolvable", language)
    for name in scene.events:
        message = scene.rendered(name, language)
        for said in (message.text, message.html, message.subject):
            assert not ISO_DATE.search(said), (name, said)
            assert "T18:" not in said


@pytest.mark.parametrize("language", LANGUAGES)
async def test_days_left_or_late(scene: Scene, language: Language) -> None:
    words = WORDS[language]
    assert words["due_in_5"] in scene.text("due_dhaka", language)
    assert words["late_by_3"] in scene.text("overdue", language)
    assert words["due_today"] in scene.text("due_today", language).splitlines()
    assert words["expires_in_6"] in scene.text("expiring", language)
    assert words["expired_3_ago"] in scene.text("expired", language)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_status_in_words(scene: Scene, language: Language) -> None:
    words = WORDS[language]
    expected = {
        "due_dhaka": "upcoming",
        "overdue": "overdue",
        "due_today": "status_due_today",
        "expiring": "warning",
        "expired": "expired",
        "unresolvable": "dns_failed",
    }
    for name, status in expected.items():
        assert words[status] in scene.text(name, language).splitlines(), name
    assert scene.events["due_today"].payload_json["status"] == "due_today"
    for name in scene.events:
        text = scene.text(name, language)
        for raw in ("dns_failed", "due_today", "warning"):
            assert raw not in text, (name, raw)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_subjects_differ_between_branches(
    scene: Scene,
    language: Language,
    box: SecretBox,
    smtp: SmtpServer,
    settings: Settings,
    channels: dict[Any, Channel],
    clock: Clock,
) -> None:
    words = WORDS[language]
    assert scene.rendered("due_dhaka", language).subject == words["subject_dhaka"]
    assert scene.rendered("due_chattogram", language).subject == words["subject_chattogram"]

    spec = ConnectorSpec(
        type=ConnectorType.email_smtp,
        name="mail",
        host="127.0.0.1",
        port=smtp.port,
        security="none",
        sender="intrex@notify.example",
    )
    await add_connector(scene.world.db, box, scene.world.tenant, spec, allow_private=True)
    await route(scene.world, "mail", "ops@notify.example", event_type="obligation_due")
    sent = await dispatch_all(scene, box, settings, channels, clock, language, reroute=True)
    assert sent == 3
    subjects = sorted(subject_of(message) for message in smtp.mailbox.messages)
    assert words["subject_dhaka"] in subjects
    assert words["subject_chattogram"] in subjects
    assert len(set(subjects)) == len(subjects) == 3


async def dispatch_all(
    scene: Scene,
    box: SecretBox,
    settings: Settings,
    channels: dict[Any, Channel],
    clock: Clock,
    language: Language,
    *,
    reroute: bool,
) -> int:
    """Plan the scene's events again through the routes added since, then deliver them as a
    dispatcher whose tenant reads `language` does."""
    if reroute:
        await retry_dead_letters(scene.world.db, scene.world.tenant, now=clock.now)
    reader = settings.model_copy(update={"default_language": language.value})
    dispatcher = Dispatcher(scene.world.db, reader, box, channels, worker_id="content", clock=clock)
    sent = 0
    while (report := await dispatcher.run_once()).claimed:
        sent += report.sent
    return sent


def delivery(scene: Scene, name: str, language: Language, url: str | None) -> Delivery:
    event = scene.events[name]
    return Delivery(
        event_id=event.id,
        event_type=event.event_type.value,
        severity=event.severity.value,
        idempotency_key=uuid.uuid4(),
        attempt_no=1,
        recipient="-",
        message=scene.rendered(name, language),
        dashboard_url=url,
    )


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_webhook_body_carries_the_facts_as_fields(
    scene: Scene, language: Language
) -> None:
    url = f"https://intrex.example.com/app/obligations/{uuid.uuid4()}"
    overdue = scene.events["overdue"]
    body = json.loads(webhook_body(delivery(scene, "overdue", language, url)))
    assert body["event_id"] == str(overdue.id)
    assert (body["event_type"], body["severity"]) == ("obligation_overdue", "high")
    assert body["branch"] == {"code": "CTG-02", "name": "Chattogram"}
    assert body["entity"] == {
        "type": "obligation",
        "id": overdue.payload_json["obligation_instance_id"],
        "title": "VAT return",
    }
    assert body["timing"] == {"due_at": "2026-03-03", "days": -3}
    assert body["status"] == "overdue"
    assert body["status_text"] == WORDS[language]["overdue"].split(": ", 1)[1]
    assert body["dashboard_url"] == url
    assert body["text"] == scene.text("overdue", language)
    assert body["subject"] == scene.rendered("overdue", language).subject
    assert body["payload"] == overdue.payload_json
    assert body["attempt"] == 1
    assert body["test"] is False
    assert body["language"] == language.value

    due = json.loads(webhook_body(delivery(scene, "due_dhaka", language, None)))
    assert due["timing"] == {"due_at": "2026-03-11", "days": 5}
    assert (due["status"], due["dashboard_url"]) == ("upcoming", None)

    expiring = scene.events["expiring"]
    body = json.loads(webhook_body(delivery(scene, "expiring", language, None)))
    assert body["branch"] == {"code": "DHK-01", "name": "Dhaka"}
    assert body["entity"] == {
        "type": "domain",
        "id": expiring.payload_json["domain_id"],
        "hostname": "shop.example.com",
        "port": 443,
    }
    assert body["timing"] == {"expires_at": "2026-03-12T18:34:34+00:00", "days": 6}
    assert body["status"] == "warning"

    body = json.loads(webhook_body(delivery(scene, "expired", language, None)))
    assert body["timing"] == {"expires_at": "2026-03-02T19:00:00+00:00", "days": -3}

    body = json.loads(webhook_body(delivery(scene, "unresolvable", language, None)))
    assert body["branch"] is None
    assert body["entity"]["hostname"] == "intranet.example.com"
    assert body["entity"]["port"] == 8443
    assert body["status"] == "dns_failed"
    assert body["status_text"] == WORDS[language]["dns_failed"].split(": ", 1)[1]
    assert body["timing"] == {"expires_at": "2026-06-04T20:00:00+00:00", "days": 90}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_webhook_receives_those_fields(
    scene: Scene,
    language: Language,
    box: SecretBox,
    receiver: WebhookReceiver,
    settings: Settings,
    channels: dict[Any, Channel],
    clock: Clock,
) -> None:
    await webhook(scene.world, box, receiver.url)
    await route(scene.world, "hook")
    assert await dispatch_all(scene, box, settings, channels, clock, language, reroute=True) == 7
    bodies = {}
    for request in receiver.requests:
        assert verify(WEBHOOK_SECRET, request.body, request.headers[SIGNATURE_HEADER])
        body = json.loads(request.body)
        bodies[body["event_id"]] = body
    assert set(bodies) == {str(event.id) for event in scene.events.values()}
    overdue = bodies[str(scene.events["overdue"].id)]
    assert overdue["branch"] == {"code": "CTG-02", "name": "Chattogram"}
    assert overdue["timing"] == {"due_at": "2026-03-03", "days": -3}
    assert overdue["entity"]["title"] == "VAT return"
    assert overdue["language"] == language.value
    assert WORDS[language]["late_by_3"] in overdue["text"]
    assert "dashboard_url" in overdue
    head_office = bodies[str(scene.events["unresolvable"].id)]
    assert head_office["branch"] is None
    assert WORDS[language]["head_office"] in head_office["text"]


def test_dashboard_links_follow_web_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    instance = str(uuid.uuid4())
    payload = {"obligation_instance_id": instance}
    monkeypatch.delenv("WEB_BASE_URL", raising=False)
    monkeypatch.delenv("HTTP_HOST", raising=False)
    monkeypatch.delenv("HTTP_PORT", raising=False)
    default = Settings(_env_file=None)
    assert default.web_base_url is None
    assert dashboard_link(default, "obligation_due", payload) == (
        f"http://127.0.0.1:8080/app/obligations/{instance}"
    )
    listening = Settings(_env_file=None, http_host="10.0.0.5", http_port=9090)
    assert dashboard_link(listening, "ssl_failure", {}) == "http://10.0.0.5:9090/app/"
    ipv6 = Settings(_env_file=None, http_host="::1", http_port=9090)
    assert dashboard_link(ipv6, "ssl_failure", {}) == "http://[::1]:9090/app/"

    monkeypatch.setenv("WEB_BASE_URL", "https://intrex.example.com/")
    public = Settings(_env_file=None)
    assert dashboard_link(public, "obligation_overdue", payload) == (
        f"https://intrex.example.com/app/obligations/{instance}"
    )
    assert dashboard_link(public, "ssl_expiry", {}) == "https://intrex.example.com/app/"
    assert dashboard_link(public, "obligation_due", {"test": True}) == (
        "https://intrex.example.com/app/"
    )


@pytest.mark.parametrize("language", LANGUAGES)
async def test_an_email_leads_to_the_dashboard(
    scene: Scene, language: Language, smtp: SmtpServer
) -> None:
    url = "https://intrex.example.com/app/obligations/1?a=b&c=d"
    channel = EmailChannel(timeout_seconds=2)
    config = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "i@x.example"}
    sent = delivery(scene, "due_dhaka", language, url)
    await channel.send(config, replace(sent, recipient="ops@x.example"))
    [message] = smtp.mailbox.messages
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if not part.is_multipart()
    }
    assert f"{WORDS[language]['link']}{url}" in parts["text/plain"]
    assert 'href="https://intrex.example.com/app/obligations/1?a=b&amp;c=d"' in parts["text/html"]
    assert WORDS[language]["dhaka"] in parts["text/plain"]
    assert subject_of(message) == WORDS[language]["subject_dhaka"]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_whatsapp_template_carries_the_facts_and_the_dashboard_link(
    scene: Scene, language: Language, receiver: WebhookReceiver
) -> None:
    url = "https://intrex.example.com/app/"
    channel = WhatsAppChannel(GuardedHttp(timeout_seconds=2, allow_private=True))
    config = {
        "phone_number_id": "1234567890",
        "access_token": "EAAG-test-token",
        "base_url": f"http://127.0.0.1:{receiver.port}/v21.0",
        "template_name": "intrex_alert",
        "template_language": "en_US",
        "template_params": ["branch", "due", "days", "link"],
    }
    sent = delivery(scene, "expired", language, url)
    try:
        await channel.send(config, replace(sent, recipient="+8801712345678", timezone=ZONE))
    finally:
        await channel.close()
    [request] = receiver.requests
    [component] = json.loads(request.body)["template"]["components"]
    branch, due, days, link = (p["text"] for p in component["parameters"])
    assert WORDS[language]["chattogram"].endswith(branch)
    assert due in WORDS[language]["expired_on"]
    assert days == WORDS[language]["expired_3_ago"]
    assert link == url
