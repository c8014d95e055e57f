"""WhatsApp's status callbacks: what became of a sent template message, on its delivery row.

The Cloud API answers a send with the message's id (the `wamid`, kept as the delivery's
`provider_message_id`) and reports later, by webhook, that it was sent, delivered, read, or
failed. Meta signs each callback (`X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the
raw body with the app secret) and proves the subscription first by a GET with the verify
token; the aiohttp edge (`cli/whatsapp_webhook.py`) checks both with the functions here
before anything is read.

Callbacks come late, repeated and out of order, so a status only moves a delivery forward
(sent → delivered → read; failed ends it) and a repeat changes nothing. A `failed` status
whose error code is temporary (`RETRYABLE_CODES`) sends the step again after the usual
backoff, once per failure; any other failure ends the step as a dead letter with WhatsApp's
reason. The deliveries belong to many tenants and the callback names none, so this runs on
the system path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select

from core.config import Settings
from core.db.enums import NotificationStatus
from core.db.session import Database
from core.notify.channels.whatsapp import graph_error, is_retryable
from core.notify.dispatcher import EVENT_STATUS_SQL, backoff_seconds
from core.notify.models import NotificationDelivery, NotificationStep
from core.notify.redaction import redact_known

log = structlog.get_logger(__name__)

SIGNATURE_PREFIX = "sha256="
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
"""How far a message has come: a status ranked at or below the recorded one is stale."""
ERROR_LIMIT = 300
FAILED_WITHOUT_REASON = "WhatsApp reported the message failed, without a reason"


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """The callback was signed with the app secret: `sha256=<hex>` over the exact body,
    compared in constant time. A missing or malformed header does not match."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix(SIGNATURE_PREFIX).strip().lower())


def subscription_challenge(
    verify_token: str, mode: str | None, token: str | None, challenge: str | None
) -> str | None:
    """Meta's subscription check: the challenge to echo, or None to refuse (wrong token)."""
    if mode != "subscribe" or token is None or challenge is None:
        return None
    if not hmac.compare_digest(verify_token.encode("utf-8"), token.encode("utf-8")):
        return None
    return challenge


@dataclass(frozen=True)
class StatusReport:
    """One entry of a callback's `statuses`."""

    message_id: str
    status: str
    at: datetime
    error_code: int | None = None
    error: str | None = None


def _moment(value: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def parse_callback(body: bytes, *, now: datetime) -> list[StatusReport] | None:
    """The status reports of a callback (messages and other changes are not ours: left
    out), or None when the body is not a JSON document."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    reports: list[StatusReport] = []
    entries = document.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            statuses = value.get("statuses") if isinstance(value, dict) else None
            for status in statuses if isinstance(statuses, list) else []:
                if not isinstance(status, dict):
                    continue
                message_id, word = status.get("id"), status.get("status")
                if not isinstance(message_id, str) or not isinstance(word, str):
                    continue
                if word not in STATUS_RANK:
                    continue
                code, error = None, None
                errors = status.get("errors")
                if word == "failed" and isinstance(errors, list) and errors:
                    code, error = graph_error(errors[0])
                reports.append(
                    StatusReport(
                        message_id=message_id,
                        status=word,
                        at=_moment(status.get("timestamp"), now),
                        error_code=code,
                        error=error,
                    )
                )
    return reports


@dataclass
class StatusOutcome:
    """What a callback changed: statuses recorded, and of the failures, how many steps
    were queued again or ended; reports for unknown messages or older than what is
    recorded change nothing."""

    recorded: int = 0
    requeued: int = 0
    ended: int = 0
    stale: int = 0
    unknown: int = 0


async def record_statuses(
    db: Database,
    settings: Settings,
    reports: list[StatusReport],
    *,
    now: datetime,
    rng: random.Random | None = None,
) -> StatusOutcome:
    """Record each report on the delivery of its message, in one transaction; a failure
    queues the step again (temporary codes) or ends it, only if that delivery is the step's
    latest attempt and the step still stands as sent."""
    outcome = StatusOutcome()
    if not reports:
        return outcome
    draw = rng or random.Random()
    async with db.system_uow() as session:
        rows = await session.execute(
            select(NotificationDelivery, NotificationStep)
            .join(NotificationStep, NotificationStep.id == NotificationDelivery.step_id)
            .where(NotificationDelivery.provider_message_id.in_({r.message_id for r in reports}))
            .order_by(NotificationDelivery.id)
            .with_for_update()
        )
        found = {delivery.provider_message_id: (delivery, step) for delivery, step in rows}
        events: set[Any] = set()
        for report in sorted(reports, key=lambda r: (r.at, STATUS_RANK[r.status])):
            if report.message_id not in found:
                outcome.unknown += 1
                continue
            delivery, step = found[report.message_id]
            if STATUS_RANK[report.status] <= STATUS_RANK.get(delivery.provider_status or "", 0):
                outcome.stale += 1
                continue
            delivery.provider_status = report.status
            delivery.provider_status_at = report.at
            outcome.recorded += 1
            if report.status != "failed":
                continue
            reason = redact_known(report.error or FAILED_WITHOUT_REASON)[:ERROR_LIMIT]
            delivery.provider_error = reason
            latest = step.attempts == delivery.attempt_no
            if not latest or step.status is not NotificationStatus.sent:
                continue
            retry = is_retryable(report.error_code) and step.attempts < settings.notify_max_attempts
            if retry:
                delay = backoff_seconds(
                    step.attempts,
                    base=settings.notify_retry_base_seconds,
                    cap=settings.notify_retry_max_seconds,
                    rng=draw,
                )
                step.status = NotificationStatus.failed
                step.next_attempt_at = now + timedelta(seconds=delay)
                outcome.requeued += 1
            else:
                step.status = NotificationStatus.dead_letter
                outcome.ended += 1
            step.last_error = reason
            delivery.delivery_status = step.status
            delivery.error = reason
            events.add(step.notification_event_id)
        if events:
            await session.flush()
            await session.execute(EVENT_STATUS_SQL, {"ids": list(events)})
    log.info(
        "whatsapp statuses",
        recorded=outcome.recorded,
        requeued=outcome.requeued,
        ended=outcome.ended,
        stale=outcome.stale,
        unknown=outcome.unknown,
    )
    return outcome
