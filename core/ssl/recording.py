"""Recording a check: the history row, the domain's state, and the alerts it warrants.

Alert rules (SPEC §4), and the state that makes each one hold:

- `ssl_expiry`: when a healthy certificate (`ok` or `warning`) has crossed a threshold of
  `SSL_NOTIFY_DAYS`, only the most urgent one crossed is raised, with the fingerprint
  `ssl_expiry:<domain>:<certificate sha256>:<threshold>` and `once=True`. The outbox is the
  memory: each (domain, certificate, threshold) fires once ever, so a renewed certificate
  (a new hash) starts afresh, and a CDN alternating two certificates raises at most one
  event per certificate and threshold, however often they alternate.
- `ssl_failure`: a failing check while the domain has no open failure episode opens one
  (`domains.failure_episode_id`, `failure_since`) and raises one event for it, its
  severity by status. Further failures, even of another kind, belong to that episode and
  raise nothing. The first healthy check closes the episode and raises a low-severity
  "recovered" notice (type `ssl_failure`, payload `state: "recovered"`, same `episode_id`),
  so whoever got the failure hears it is over; routes with a minimum severity above `low`
  never carry it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import NotificationEventType, Severity, SslCheckStatus
from core.notify.events import emit_event, resolve_events
from core.notify.models import NotificationEvent
from core.ssl.checker import CheckOutcome
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch

FAILURE_SEVERITY = {
    SslCheckStatus.expired: Severity.critical,
    SslCheckStatus.hostname_mismatch: Severity.high,
    SslCheckStatus.handshake_failed: Severity.high,
    SslCheckStatus.timeout: Severity.medium,
    SslCheckStatus.dns_failed: Severity.medium,
}

FAILURE_WORDS = {
    SslCheckStatus.expired: "certificate has expired",
    SslCheckStatus.hostname_mismatch: "certificate is not valid for this host name",
    SslCheckStatus.handshake_failed: "TLS handshake failed",
    SslCheckStatus.timeout: "did not answer in time",
    SslCheckStatus.dns_failed: "host name does not resolve",
}


def expiry_threshold(days_remaining: int, thresholds: list[int]) -> int | None:
    """The most urgent threshold that `days_remaining` has reached, if any."""
    crossed = [threshold for threshold in thresholds if days_remaining <= threshold]
    return min(crossed) if crossed else None


def expiry_severity(threshold: int) -> Severity:
    if threshold <= 1:
        return Severity.critical
    if threshold <= 7:
        return Severity.high
    return Severity.medium


@dataclass
class Recorded:
    """What recording one outcome wrote."""

    result: SslCheckResult
    events: list[NotificationEvent] = field(default_factory=list)


def _target(domain: Domain) -> str:
    return domain.hostname if domain.port == 443 else f"{domain.hostname}:{domain.port}"


def _base_payload(domain: Domain, outcome: CheckOutcome, branch_code: str | None) -> dict[str, Any]:
    """What every certificate alert says (`core.notify.render`): the domain, its branch or
    head office (`head_office`, when it has none), the status, the certificate's validity
    (ISO in UTC; alerts show it as a local date). `branch_name`, and for a failure with no
    certificate the last one read (`last_valid_to`), are added when an event is raised."""
    cert = outcome.certificate
    return {
        "domain_id": str(domain.id),
        "host": domain.hostname,
        "port": domain.port,
        "target": _target(domain),
        "branch_code": branch_code,
        "branch_name": None,
        "head_office": domain.branch_id is None,
        "status": outcome.status.value,
        "previous_status": domain.status.value if domain.status else None,
        "days_remaining": outcome.days_remaining,
        "valid_from": cert.valid_from.isoformat() if cert else None,
        "valid_to": cert.valid_to.isoformat() if cert else None,
        "issuer_cn": cert.issuer_cn if cert else None,
        "fingerprint_sha256": cert.fingerprint_sha256 if cert else None,
        "error_detail": outcome.error_detail,
        "checked_at": outcome.checked_at.isoformat(),
    }


async def record_outcome(
    session: AsyncSession,
    domain: Domain,
    outcome: CheckOutcome,
    *,
    notify_days: list[int],
    next_check_at: datetime,
    branch_code: str | None = None,
) -> Recorded:
    """Write the result, update the domain, raise the events it warrants (caller's transaction).

    Nothing is flushed unless an event is raised, so a round's many results go out in batches.
    """
    result = SslCheckResult(
        tenant_id=domain.tenant_id, domain_id=domain.id, **outcome.result_fields()
    )
    session.add(result)
    payload = _base_payload(domain, outcome, branch_code)
    domain.status = outcome.status
    domain.last_checked_at = outcome.checked_at
    domain.next_check_at = next_check_at
    recorded = Recorded(result)
    if outcome.is_failure:
        if domain.failure_episode_id is None:
            domain.failure_episode_id = uuid.uuid4()
            domain.failure_since = outcome.checked_at
            await _emit(session, domain, recorded, **_failure_event(domain, outcome, payload))
    else:
        if domain.failure_episode_id is not None:
            await resolve_events(
                session,
                tenant_id=domain.tenant_id,
                fingerprint=f"ssl_failure:{domain.id}:{domain.failure_episode_id}",
                resolution="recovered",
            )
            await _emit(session, domain, recorded, **_recovery_event(domain, outcome, payload))
            domain.failure_episode_id = None
            domain.failure_since = None
        if outcome.days_remaining is not None and outcome.certificate is not None:
            threshold = expiry_threshold(outcome.days_remaining, notify_days)
            if threshold is not None:
                await _emit(session, domain, recorded, **_expiry_event(domain, threshold, payload))
    return recorded


async def _emit(
    session: AsyncSession,
    domain: Domain,
    recorded: Recorded,
    *,
    event_type: NotificationEventType,
    severity: Severity,
    fingerprint: str,
    payload: dict[str, Any],
) -> None:
    payload = await _with_context(session, domain, payload)
    event = await emit_event(
        session,
        tenant_id=domain.tenant_id,
        event_type=event_type,
        severity=severity,
        fingerprint=fingerprint,
        payload=payload,
        branch_id=domain.branch_id,
        once=True,
    )
    if event is not None:
        recorded.events.append(event)


async def _with_context(
    session: AsyncSession, domain: Domain, payload: dict[str, Any]
) -> dict[str, Any]:
    """The facts an alert needs that a check does not know: the branch's code and name, and,
    when this check read no certificate, the expiry of the last one read (read only when an
    event is raised, so a round's checks cost no extra query)."""
    extra: dict[str, Any] = {}
    if domain.branch_id is not None:
        branch = (
            await session.execute(
                select(Branch.code, Branch.name).where(
                    Branch.tenant_id == domain.tenant_id, Branch.id == domain.branch_id
                )
            )
        ).first()
        if branch is not None:
            extra |= {"branch_code": branch.code, "branch_name": branch.name}
    if payload.get("valid_to") is None:
        last = await session.scalar(
            select(SslCheckResult.valid_to)
            .where(
                SslCheckResult.tenant_id == domain.tenant_id,
                SslCheckResult.domain_id == domain.id,
                SslCheckResult.valid_to.is_not(None),
            )
            .order_by(SslCheckResult.checked_at.desc())
            .limit(1)
        )
        if last is not None:
            extra["last_valid_to"] = last.isoformat()
    return {**payload, **extra}


def _failure_event(
    domain: Domain, outcome: CheckOutcome, payload: dict[str, Any]
) -> dict[str, Any]:
    episode = domain.failure_episode_id
    assert episode is not None
    assert domain.failure_since is not None
    words = FAILURE_WORDS[outcome.status]
    return {
        "event_type": NotificationEventType.ssl_failure,
        "severity": FAILURE_SEVERITY[outcome.status],
        "fingerprint": f"ssl_failure:{domain.id}:{episode}",
        "payload": {
            **payload,
            "state": "failing",
            "episode_id": str(episode),
            "failure_since": domain.failure_since.isoformat(),
            "title": f"{_target(domain)}: {words}",
            "message": f"{_target(domain)}: {words} ({outcome.status.value})"
            + (f": {outcome.error_detail}" if outcome.error_detail else ""),
        },
    }


def _recovery_event(
    domain: Domain, outcome: CheckOutcome, payload: dict[str, Any]
) -> dict[str, Any]:
    episode = domain.failure_episode_id
    assert episode is not None
    assert domain.failure_since is not None
    days = outcome.days_remaining
    return {
        "event_type": NotificationEventType.ssl_failure,
        "severity": Severity.low,
        "fingerprint": f"ssl_recovered:{domain.id}:{episode}",
        "payload": {
            **payload,
            "state": "recovered",
            "episode_id": str(episode),
            "failure_since": domain.failure_since.isoformat(),
            "title": f"{_target(domain)}: certificate check passes again",
            "message": f"{_target(domain)} is {outcome.status.value} again"
            + (f", {days} days remaining" if days is not None else "")
            + f"; failing since {domain.failure_since:%Y-%m-%d %H:%M} UTC.",
        },
    }


def _expiry_event(domain: Domain, threshold: int, payload: dict[str, Any]) -> dict[str, Any]:
    days = payload["days_remaining"]
    valid_to = payload["valid_to"][:10]
    when = "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"
    return {
        "event_type": NotificationEventType.ssl_expiry,
        "severity": expiry_severity(threshold),
        "fingerprint": f"ssl_expiry:{domain.id}:{payload['fingerprint_sha256']}:{threshold}",
        "payload": {
            **payload,
            "threshold_days": threshold,
            "title": f"{_target(domain)}: certificate expires {when}",
            "message": f"The certificate of {_target(domain)} (issuer "
            f"{payload['issuer_cn'] or 'unknown'}) expires {when}, on {valid_to}.",
        },
    }
