"""Certificate alerts: thresholds fire once per certificate, failures once per episode.

Each test registers a domain on a loopback TLS endpoint whose certificate it swaps between
checks (a renewal, a CDN alternating two certificates, a breakage and its repair), and
reads back what reached the `notification_events` outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from core.config import Settings
from core.db.enums import AppRole, NotificationEventType, Severity, SslCheckStatus
from core.db.session import Database
from core.notify.models import NotificationEvent
from core.ssl.recording import expiry_threshold
from core.ssl.service import add_domain, check_now
from core.tenancy.models import Tenant
from core.tenancy.scope import ActorUnits
from tests.companies import new_branch, person
from tests.core.ssl.conftest import RESOLVER
from tests.core.ssl.pki import Issued, Pki, issue_leaf
from tests.core.ssl.servers import LoopbackServers, TlsEndpoint

NAMES = "*.intrex.test"


class Site:
    """A registered domain whose server's certificate the test controls, registered and
    checked by head office (`admin`)."""

    def __init__(
        self,
        db: Database,
        tenant: Tenant,
        admin: ActorUnits,
        settings: Settings,
        pki: Pki,
        endpoint: TlsEndpoint,
    ) -> None:
        self.db, self.tenant, self.admin, self.settings, self.pki = db, tenant, admin, settings, pki
        self.endpoint = endpoint
        self.target = f"site-{uuid.uuid4().hex[:8]}.intrex.test:{endpoint.port}"

    def serve(self, leaf: Issued, *chain: Issued) -> None:
        self.endpoint.use(self.pki.server_context(leaf, *chain))

    def serve_trusted(self, leaf: Issued) -> None:
        self.serve(leaf, self.pki.intermediate)

    async def add(self, branch_code: str | None = None) -> SslCheckStatus:
        added = await add_domain(
            self.admin, self.target, branch_code, settings=self.settings, resolver=RESOLVER
        )
        return added.outcome.status

    async def check(self) -> SslCheckStatus:
        checked = await check_now(
            self.admin, self.target, settings=self.settings, resolver=RESOLVER
        )
        assert checked.result is not None, "a registered domain's check is recorded"
        return checked.outcome.status

    async def events(self, event_type: NotificationEventType) -> list[NotificationEvent]:
        async with self.db.tenant_uow(self.tenant.id) as session:
            found = await session.scalars(
                select(NotificationEvent)
                .where(NotificationEvent.event_type == event_type)
                .order_by(NotificationEvent.created_at, NotificationEvent.id)
            )
            return list(found)


@pytest.fixture
async def site(
    db: Database, tenant: Tenant, ssl_settings: Settings, pki: Pki, servers: LoopbackServers
) -> Site:
    endpoint = servers.tls(pki.server_context(pki.leaf(NAMES), pki.intermediate))
    admin = await person(db, tenant, AppRole.head_office_admin)
    return Site(db, tenant, admin, ssl_settings, pki, endpoint)


def thresholds(events: list[NotificationEvent]) -> list[int]:
    return [event.payload_json["threshold_days"] for event in events]


@pytest.mark.parametrize(
    ("days", "expected"),
    [(90, None), (31, None), (30, 30), (20, 30), (14, 14), (8, 14), (7, 7), (2, 3), (0, 1)],
)
def test_only_the_most_urgent_threshold_counts(days: int, expected: int | None) -> None:
    assert expiry_threshold(days, [30, 14, 7, 3, 1]) == expected


async def test_threshold_crossing_sends_once(site: Site) -> None:
    leaf = site.pki.leaf(NAMES, days_valid=20.5)
    site.serve_trusted(leaf)
    assert await site.add() is SslCheckStatus.warning
    for _ in range(3):
        assert await site.check() is SslCheckStatus.warning
    [event] = await site.events(NotificationEventType.ssl_expiry)
    assert event.severity is Severity.medium
    assert event.fingerprint.endswith(f":{leaf.fingerprint}:30")
    payload = event.payload_json
    assert payload["threshold_days"] == 30
    assert payload["days_remaining"] == 20
    assert payload["host"] == site.target.split(":")[0]
    assert payload["port"] == site.endpoint.port
    assert payload["status"] == "warning"
    assert payload["valid_to"][:10] == leaf.certificate.not_valid_after_utc.date().isoformat()
    assert payload["issuer_cn"] == "Intrex Test Intermediate CA"
    assert payload["title"].endswith("certificate expires in 20 days")
    assert await site.events(NotificationEventType.ssl_failure) == []


async def test_first_sight_inside_the_window_sends_only_the_most_urgent(site: Site) -> None:
    site.serve_trusted(site.pki.leaf(NAMES, days_valid=2.5))
    await site.add()
    [event] = await site.events(NotificationEventType.ssl_expiry)
    assert event.payload_json["threshold_days"] == 3
    assert event.severity is Severity.high


async def test_a_new_certificate_rearms_the_thresholds(site: Site) -> None:
    site.serve_trusted(site.pki.leaf(NAMES, days_valid=20.5))
    await site.add()
    site.serve_trusted(site.pki.leaf(NAMES, days_valid=90))
    assert await site.check() is SslCheckStatus.ok
    assert thresholds(await site.events(NotificationEventType.ssl_expiry)) == [30]
    renewed_again = site.pki.leaf(NAMES, days_valid=25.5)
    site.serve_trusted(renewed_again)
    await site.check()
    await site.check()
    events = await site.events(NotificationEventType.ssl_expiry)
    assert thresholds(events) == [30, 30]
    assert events[1].payload_json["fingerprint_sha256"] == renewed_again.fingerprint


async def test_alternating_certificates_do_not_repeat(site: Site) -> None:
    """A CDN serving two certificates in turn: one event per certificate, not per switch."""
    first = site.pki.leaf(NAMES, days_valid=10.5)
    second = site.pki.leaf(NAMES, days_valid=12.5)
    site.serve_trusted(first)
    await site.add()
    for _ in range(4):
        site.serve_trusted(second)
        await site.check()
        site.serve_trusted(first)
        await site.check()
    events = await site.events(NotificationEventType.ssl_expiry)
    assert sorted(
        (e.payload_json["fingerprint_sha256"], e.payload_json["threshold_days"]) for e in events
    ) == sorted([(first.fingerprint, 14), (second.fingerprint, 14)])


async def test_failure_episodes_open_once_and_close_with_a_recovery_notice(
    site: Site, db: Database, tenant: Tenant
) -> None:
    await new_branch(db, tenant, "CTG-02", name="Chattogram")
    pki = site.pki
    assert await site.add("ctg-02") is SslCheckStatus.ok
    assert await site.events(NotificationEventType.ssl_failure) == []

    site.serve(issue_leaf([NAMES], None))
    assert await site.check() is SslCheckStatus.handshake_failed
    assert await site.check() is SslCheckStatus.handshake_failed
    site.serve_trusted(pki.leaf("elsewhere.example"))
    assert await site.check() is SslCheckStatus.hostname_mismatch
    [opened] = await site.events(NotificationEventType.ssl_failure)
    assert opened.severity is Severity.high
    assert opened.branch_id is not None
    assert opened.payload_json["state"] == "failing"
    assert opened.payload_json["status"] == "handshake_failed"
    assert opened.payload_json["branch_code"] == "CTG-02"
    assert opened.payload_json["error_detail"] == (
        "certificate verify failed: self-signed certificate"
    )
    episode = opened.payload_json["episode_id"]

    site.serve_trusted(pki.leaf(NAMES))
    assert await site.check() is SslCheckStatus.ok
    assert await site.check() is SslCheckStatus.ok
    opened_again, recovered = await site.events(NotificationEventType.ssl_failure)
    assert opened_again.id == opened.id
    assert recovered.severity is Severity.low
    assert recovered.payload_json["state"] == "recovered"
    assert recovered.payload_json["episode_id"] == episode
    assert recovered.payload_json["previous_status"] == "hostname_mismatch"

    site.serve_trusted(pki.leaf(NAMES, days_valid=-1))
    assert await site.check() is SslCheckStatus.expired
    events = await site.events(NotificationEventType.ssl_failure)
    assert len(events) == 3
    second_episode = events[2]
    assert second_episode.payload_json["state"] == "failing"
    assert second_episode.payload_json["episode_id"] != episode
    assert second_episode.severity is Severity.critical


@pytest.mark.parametrize(
    ("make_failure", "status", "severity"),
    [
        (lambda pki: pki.leaf(NAMES, days_valid=-1), SslCheckStatus.expired, Severity.critical),
        (
            lambda pki: pki.leaf("elsewhere.example"),
            SslCheckStatus.hostname_mismatch,
            Severity.high,
        ),
    ],
)
async def test_failure_severity_follows_the_status(
    site: Site, make_failure: Callable[[Pki], Issued], status: SslCheckStatus, severity: Severity
) -> None:
    site.serve_trusted(make_failure(site.pki))
    assert await site.add() is status
    [event] = await site.events(NotificationEventType.ssl_failure)
    assert event.severity is severity
    assert await site.events(NotificationEventType.ssl_expiry) == []
