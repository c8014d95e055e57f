"""Turning an event into words for one recipient: their language, the tenant's clock.

Every channel (Telegram, email, WhatsApp, the webhook's `text`) gets the same words, from
the message catalogues. Payloads hold data only (ids, dates as ISO strings, statuses);
anything a person reads is chosen here, so an alert to several people is written once per
language. The digest's words are here too, read from its payload: `/digest` shows exactly
what the daily digest sends.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any

from core.db.enums import Severity, SslCheckStatus
from core.i18n import N_, Texts
from core.i18n.labels import label
from core.notify.channels.base import RenderedMessage

SEVERITIES = frozenset(member.value for member in Severity)
SEVERITY_MARK = {"low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}

TEST_HEADLINE = N_("Intrex test alert: if you can read this, the route works")


def _target(payload: dict[str, Any]) -> str:
    if payload.get("target"):
        return str(payload["target"])
    host, port = payload.get("host", "?"), payload.get("port", 443)
    return str(host) if port in (443, "443") else f"{host}:{port}"


def _branch(payload: dict[str, Any]) -> str:
    return str(payload.get("branch_code") or payload.get("branch") or "")


def headline(texts: Texts, event_type: str, payload: dict[str, Any]) -> str:
    """The first line of an alert: what happened, to what, where."""
    if payload.get("test"):
        return texts.gettext(TEST_HEADLINE)
    title = str(payload.get("title", "?"))
    branch = _branch(payload)
    if event_type == "obligation_due":
        return texts.gettext("Due soon: {title} ({branch})").format(title=title, branch=branch)
    if event_type == "obligation_overdue":
        return texts.gettext("Overdue: {title} ({branch})").format(title=title, branch=branch)
    if event_type == "ssl_expiry":
        return texts.gettext("Certificate expiring: {target}").format(target=_target(payload))
    if event_type == "ssl_failure":
        if payload.get("state") == "recovered":
            return texts.gettext("Certificate check passes again: {target}").format(
                target=_target(payload)
            )
        return texts.gettext("Certificate check failed: {target}").format(target=_target(payload))
    if event_type == "digest" and payload.get("today"):
        return texts.gettext("Your Intrex digest for {date}").format(
            date=texts.date(date.fromisoformat(str(payload["today"])))
        )
    return event_type.replace("_", " ")


def _fact_lines(texts: Texts, payload: dict[str, Any], timezone: str) -> list[str]:
    lines: list[str] = []
    if payload.get("branch_name") and payload.get("branch_code"):
        lines.append(
            texts.gettext("Branch: {code} — {name}").format(
                code=payload["branch_code"], name=payload["branch_name"]
            )
        )
    elif payload.get("branch_code"):
        lines.append(texts.gettext("Branch: {code}").format(code=payload["branch_code"]))
    if payload.get("due_at"):
        due = date.fromisoformat(str(payload["due_at"]))
        lines.append(texts.gettext("Due: {date}").format(date=texts.date(due)))
    if isinstance(payload.get("days_left"), int):
        lines.append(texts.days_left(int(payload["days_left"])).capitalize())
    if payload.get("status"):
        try:
            status = label(texts, SslCheckStatus(payload["status"]))
        except ValueError:
            status = str(payload["status"])
        lines.append(texts.gettext("Status: {status}").format(status=status))
    if payload.get("valid_to"):
        valid_to = datetime.fromisoformat(str(payload["valid_to"]))
        lines.append(
            texts.gettext("Valid until: {moment}").format(moment=texts.moment(valid_to, timezone))
        )
    if isinstance(payload.get("days_remaining"), int):
        lines.append(
            texts.ngettext(
                "{count} day remaining", "{count} days remaining", int(payload["days_remaining"])
            ).format(count=texts.number(int(payload["days_remaining"])))
        )
    if payload.get("error_detail"):
        lines.append(texts.gettext("Detail: {detail}").format(detail=payload["error_detail"]))
    return lines


def digest_lines(texts: Texts, digest: dict[str, Any]) -> list[str]:
    """The digest's body from its payload (`DigestSummary.as_payload`): counts, then the
    most urgent items."""
    counts = {key: int(digest.get(key, 0)) for key in COUNTS}
    if not any(counts.values()):
        return [texts.gettext("Nothing overdue, nothing due this week, every certificate fine.")]
    lines = [
        texts.gettext("Overdue: {count}").format(count=texts.number(counts["overdue"])),
        texts.gettext("Due today: {count}").format(count=texts.number(counts["due_today"])),
        texts.gettext("Due within 7 days: {count}").format(
            count=texts.number(counts["due_this_week"])
        ),
        texts.gettext("Certificates failing: {failing}, expiring soon: {expiring}").format(
            failing=texts.number(counts["failing_domains"]),
            expiring=texts.number(counts["expiring_domains"]),
        ),
    ]
    top = digest.get("top") or []
    if top:
        today = date.fromisoformat(str(digest["today"]))
        lines.append(texts.gettext("Most urgent:"))
        lines.extend(
            texts.gettext("• {title} ({branch}), {when}").format(
                title=item["title"],
                branch=item.get("branch", ""),
                when=texts.days_left((date.fromisoformat(item["due_date"]) - today).days),
            )
            for item in top
        )
    return lines


COUNTS = ("overdue", "due_today", "due_this_week", "failing_domains", "expiring_domains")


def render(
    event_type: str, severity: str, payload: dict[str, Any], texts: Texts, timezone: str
) -> RenderedMessage:
    """The message for an event, in `texts`' language, times on the tenant's clock."""
    title = headline(texts, event_type, payload)
    mark = SEVERITY_MARK.get(severity, "")
    if event_type == "digest" and payload.get("today"):
        facts = digest_lines(texts, payload)
    else:
        facts = _fact_lines(texts, payload, timezone)
    text = "\n".join([f"{mark} {title}".strip(), *facts])
    severity_word = label(texts, Severity(severity)) if severity in SEVERITIES else severity
    body = f"<p><strong>{html.escape(title)}</strong> ({html.escape(severity_word)})</p>"
    body += "".join(f"<p>{html.escape(line)}</p>" for line in facts)
    return RenderedMessage(
        subject=texts.gettext("[Intrex {severity}] {title}").format(
            severity=severity_word, title=title
        ),
        text=text,
        html=f"<html><body>{body}</body></html>",
        data={"event_type": event_type, "severity": severity, "payload": payload},
        language=texts.language.value,
    )
