"""Webhook: a signed JSON POST a receiver can verify and deduplicate."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from core.i18n import texts_for
from core.notify.channels.base import Delivery
from core.notify.channels.http import GuardedHttp, text_of
from core.notify.render import alert_facts, status_words

SIGNATURE_HEADER = "X-Intrex-Signature"


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 over the exact body bytes with the connector's secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def webhook_body(delivery: Delivery) -> bytes:
    """The JSON document a receiver gets: the alert's facts as fields, its words, its data.

    `id` is the idempotency key (the same on every attempt of a step); `branch` is null for
    what belongs to head office; `timing.days` is negative when late or expired; `status` is
    the stored value and `status_text` the same in the words of `text`'s language.
    """
    payload = delivery.message.data.get("payload", {})
    facts = alert_facts(delivery.event_type, payload)
    document = {
        "id": str(delivery.idempotency_key),
        "event_id": str(delivery.event_id),
        "event_type": delivery.event_type,
        "severity": delivery.severity,
        "test": facts.test,
        "branch": facts.branch,
        "entity": facts.entity,
        "timing": facts.timing,
        "status": facts.status.value if facts.status is not None else None,
        "status_text": status_words(texts_for(delivery.message.language), facts),
        "dashboard_url": delivery.dashboard_url,
        "attempt": delivery.attempt_no,
        "language": delivery.message.language,
        "subject": delivery.message.subject,
        "text": delivery.message.text,
        "payload": payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


class WebhookChannel:
    """Config: `url`, optional `secret` (without one the body is sent unsigned)."""

    def __init__(self, http: GuardedHttp) -> None:
        self._http = http

    async def send(self, config: dict[str, Any], delivery: Delivery) -> None:
        body = webhook_body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Intrex-Webhook/1",
            "Idempotency-Key": str(delivery.idempotency_key),
            "X-Intrex-Delivery": str(delivery.idempotency_key),
            "X-Intrex-Event": delivery.event_type,
        }
        secret = config.get("secret")
        if isinstance(secret, str) and secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        await self._http.post(text_of(config, "url"), body=body, headers=headers)

    async def close(self) -> None:
        await self._http.close()
