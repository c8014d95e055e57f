"""WhatsApp Business through the Cloud API: an approved template message to a phone number.

Every alert is a business-initiated message, which WhatsApp delivers only as a template the
business had approved (free text is refused outside the 24 hours after the customer last
wrote). The connector names the template, its language and which alert facts fill its body
parameters, in order (`TEMPLATE_FIELDS`); each value is made fit for a parameter (no line
breaks, tabs or runs of spaces, cut to share the body's 1,024 characters). The answer's
message id (the `wamid`) is returned so the delivery can be found by the status webhook
(`core.notify.whatsapp_status`), which reports sent, delivered, read or failed later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from core.db.enums import Severity, SslCheckStatus
from core.i18n import Texts, texts_for
from core.i18n.labels import label
from core.notify.channels.base import Delivery, DeliveryError, SentCopy
from core.notify.channels.http import GuardedHttp, HttpRefused, text_of
from core.notify.render import AlertFacts, alert_facts, certificate_days, headline, status_words

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
E164 = re.compile(r"^\+?[1-9]\d{6,14}$")
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
"""What Meta accepts as a template's name: lowercase letters, digits and underscores."""
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
"""A template language as Meta spells it: `en`, `en_US`, `bn`."""
PARAMETERS_BUDGET = 768
"""Characters the parameters may take together, leaving the rest of the body's 1,024 to the
template's own words."""
NOT_KNOWN = "—"
"""A parameter may not be empty: what stands for a fact the alert does not have."""
RUN_OF_WHITESPACE = re.compile(r"\s+")
CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")
"""How the send answer's `message` starts: `(#131047) Re-engagement message`."""

RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131049, 131056, 133004})
"""Graph API and Cloud API error codes worth trying again later: unknown or temporary
service errors (1, 2, 131000, 131016, 133004), rate limits (4, 80007, 130429, 131056),
and a message held back for the recipient's engagement (131049). Every other code needs a
change (the template, the number, the account) before a retry can succeed."""

NO_TEMPLATE = (
    "this WhatsApp connector has no template: WhatsApp delivers alerts only as approved "
    "template messages; add the connector again with --template, --template-language and "
    "--template-params"
)


@dataclass(frozen=True)
class AlertWords:
    """What a template parameter is drawn from: the alert's facts, in the reader's words."""

    delivery: Delivery
    facts: AlertFacts
    texts: Texts


def _headline(words: AlertWords) -> str:
    payload = words.delivery.message.data.get("payload", {})
    return headline(words.texts, words.delivery.event_type, payload)


def _severity(words: AlertWords) -> str:
    severity = words.delivery.severity
    if severity in {member.value for member in Severity}:
        return label(words.texts, Severity(severity))
    return severity


def _branch(words: AlertWords) -> str:
    facts = words.facts
    if facts.branch_code and facts.branch_name:
        return f"{facts.branch_code} — {facts.branch_name}"
    if facts.branch_code:
        return facts.branch_code
    if facts.head_office:
        return words.texts.gettext("Head office (no branch)")
    return NOT_KNOWN


def _title(words: AlertWords) -> str:
    facts = words.facts
    if facts.title:
        return facts.title
    if facts.hostname:
        return facts.hostname if facts.port in (None, 443) else f"{facts.hostname}:{facts.port}"
    return NOT_KNOWN


def _due(words: AlertWords) -> str:
    """The due date, or the certificate's expiry as a date on the tenant's clock."""
    facts = words.facts
    if facts.due_on is not None:
        return words.texts.date(facts.due_on)
    if facts.expires_at is not None:
        local = facts.expires_at.astimezone(ZoneInfo(words.delivery.timezone))
        return words.texts.date(local.date())
    return NOT_KNOWN


def _days(words: AlertWords) -> str:
    facts = words.facts
    if facts.days is None:
        return NOT_KNOWN
    if facts.kind == "domain":
        expired = facts.days < 0 or facts.status is SslCheckStatus.expired
        return certificate_days(words.texts, facts.days, expired=expired)
    return words.texts.days_left(facts.days)


TEMPLATE_FIELDS: dict[str, Callable[[AlertWords], str]] = {
    "headline": _headline,
    "severity": _severity,
    "branch": _branch,
    "branch_code": lambda words: words.facts.branch_code or NOT_KNOWN,
    "title": _title,
    "due": _due,
    "days": _days,
    "status": lambda words: status_words(words.texts, words.facts) or NOT_KNOWN,
    "link": lambda words: words.delivery.dashboard_url or NOT_KNOWN,
}
"""The alert fields a connector may map to its template's body parameters: the one list
`connector add` checks `--template-params` against."""


def _fitted(values: list[str]) -> list[str]:
    """Each value on one line (WhatsApp refuses line breaks, tabs and more than four spaces
    in a row), the shortest kept whole first, the longest cut to what the budget leaves."""
    flat = [RUN_OF_WHITESPACE.sub(" ", value).strip() or NOT_KNOWN for value in values]
    limits = [0] * len(flat)
    remaining, left = PARAMETERS_BUDGET, len(flat)
    for index in sorted(range(len(flat)), key=lambda i: len(flat[i])):
        limits[index] = max(1, min(len(flat[index]), remaining // left))
        remaining -= limits[index]
        left -= 1
    return [
        value if len(value) <= limit else value[: limit - 1].rstrip() + "…"
        for value, limit in zip(flat, limits, strict=True)
    ]


def template_parameters(fields: list[str], delivery: Delivery) -> list[str]:
    """The body parameters of the template, in the connector's order, in the reader's words."""
    payload = delivery.message.data.get("payload", {})
    words = AlertWords(
        delivery, alert_facts(delivery.event_type, payload), texts_for(delivery.message.language)
    )
    unknown = [name for name in fields if name not in TEMPLATE_FIELDS]
    if unknown:
        raise DeliveryError(f"unknown template fields: {', '.join(unknown)}", permanent=True)
    return _fitted([TEMPLATE_FIELDS[name](words) for name in fields])


def graph_error(document: Any) -> tuple[int | None, str]:
    """The code and words of a Graph API error object (`{"code", "title"|"message",
    "error_data": {"details"}}`), as the send answer and the status webhook give it."""
    if not isinstance(document, dict):
        return None, "unknown error"
    raw = str(document.get("code", ""))
    code = int(raw) if raw.isdigit() else None
    title = str(document.get("title") or document.get("message") or "unknown error")
    title = CODE_PREFIX.sub("", title)
    data = document.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    words = f"{title}: {details}" if details and details != title else title
    return code, (f"WhatsApp error {code}: {words}" if code is not None else words)


def is_retryable(code: int | None) -> bool:
    return code in RETRYABLE_CODES


def _refusal(error: HttpRefused) -> DeliveryError:
    """The Cloud API's own reason for a refused send, retried only when its code says so."""
    try:
        document = json.loads(error.body)
    except ValueError:
        return error
    if not isinstance(document, dict) or "error" not in document:
        return error
    code, words = graph_error(document["error"])
    transient = not error.permanent or is_retryable(code)
    return DeliveryError(f"HTTP {error.status}: {words}"[:500], permanent=not transient)


def _message_id(answer: str) -> str | None:
    """`messages[0].id` of the answer; a gateway that gives none is still a sent message."""
    try:
        document = json.loads(answer)
    except ValueError:
        return None
    messages = document.get("messages") if isinstance(document, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        found = messages[0].get("id")
        return str(found)[:200] if found else None
    return None


class WhatsAppChannel:
    """Config: `phone_number_id`, `access_token`, `template_name`, `template_language`,
    `template_params` (alert fields, in the order of the body's parameters), optional
    `base_url` (a self-hosted gateway)."""

    def __init__(self, http: GuardedHttp) -> None:
        self._http = http

    async def send(self, config: dict[str, Any], delivery: Delivery) -> SentCopy:
        phone = delivery.recipient.replace(" ", "")
        if not E164.fullmatch(phone):
            raise DeliveryError(f"{delivery.recipient!r} is not a phone number", permanent=True)
        if not config.get("template_name"):
            raise DeliveryError(NO_TEMPLATE, permanent=True)
        fields = config.get("template_params") or []
        template: dict[str, Any] = {
            "name": text_of(config, "template_name"),
            "language": {"code": text_of(config, "template_language")},
        }
        if fields:
            parameters = template_parameters([str(name) for name in fields], delivery)
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
            ]
        base = str(config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/{text_of(config, 'phone_number_id')}/messages"
        body = json.dumps(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": phone.lstrip("+"),
                "type": "template",
                "template": template,
                "biz_opaque_callback_data": str(delivery.idempotency_key),
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {text_of(config, 'access_token')}",
            "Idempotency-Key": str(delivery.idempotency_key),
        }
        try:
            answer = await self._http.post(url, body=body, headers=headers)
        except HttpRefused as refused:
            raise _refusal(refused) from refused
        return SentCopy(provider_message_id=_message_id(answer))

    async def close(self) -> None:
        await self._http.close()
