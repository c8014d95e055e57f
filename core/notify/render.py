"""Turning an event into words for one recipient: their language, the tenant's clock.

Every channel (Telegram, email, WhatsApp, the webhook's `text`) gets the same words, from
the message catalogues. Payloads hold data only (ids, dates as ISO strings, statuses);
anything a person reads is chosen here, so an alert to several people is written once per
language. The digest's words are here too, read from its payload: `/digest` shows exactly
what the daily digest sends.

Every alert names (SPEC §4): its branch by code and name, or head office for what belongs
to no branch; the obligation or the domain; the due date or the certificate's expiry as a
date on the tenant's clock; days left or late; the status in words. `alert_facts` reads
those facts from a payload once, for the words here and for the webhook's fields; the
headline carries the branch's code, so two branches' email subjects never read alike.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.config import Settings
from core.db.enums import ObligationStatus, Severity, SslCheckStatus
from core.i18n import N_, Texts, texts_for
from core.i18n.labels import label
from core.notify.channels.base import RenderedMessage

SEVERITIES = frozenset(member.value for member in Severity)
SEVERITY_MARK = {"low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}
OBLIGATION_EVENTS = frozenset({"obligation_due", "obligation_overdue"})
CERTIFICATE_EVENTS = frozenset({"ssl_expiry", "ssl_failure"})

TEST_HEADLINE = N_("Intrex test alert: if you can read this, the route works")


@dataclass(frozen=True)
class AlertFacts:
    """What an alert is about, read from its payload: written in words by `render`, sent as
    fields by the webhook. Dates stay dates here; the reader's zone and language come later.
    """

    kind: str | None
    """`obligation`, `domain`, or None (a test, a digest)."""
    branch_code: str | None
    branch_name: str | None
    head_office: bool
    """It belongs to no branch (a domain of head office's, a tenant-wide test)."""
    entity_id: str | None
    title: str | None
    hostname: str | None
    port: int | None
    due_on: date | None
    expires_at: datetime | None
    last_known: bool
    """`expires_at` is the last certificate read before this failure, not one read now."""
    days: int | None
    """Days left (negative: days late, or since the certificate expired)."""
    status: ObligationStatus | SslCheckStatus | None
    test: bool

    @property
    def branch(self) -> dict[str, str | None] | None:
        if not self.branch_code:
            return None
        return {"code": self.branch_code, "name": self.branch_name}

    @property
    def entity(self) -> dict[str, Any] | None:
        if self.kind == "obligation":
            return {"type": "obligation", "id": self.entity_id, "title": self.title}
        if self.kind == "domain":
            return {
                "type": "domain",
                "id": self.entity_id,
                "hostname": self.hostname,
                "port": self.port,
            }
        return None

    @property
    def timing(self) -> dict[str, Any] | None:
        if self.kind == "obligation" and self.due_on is not None:
            return {"due_at": self.due_on.isoformat(), "days": self.days}
        if self.kind == "domain":
            expires = self.expires_at.isoformat() if self.expires_at else None
            return {"expires_at": expires, "days": self.days}
        return None


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _obligation_status(payload: dict[str, Any], days: int | None) -> ObligationStatus | None:
    try:
        return ObligationStatus(str(payload.get("status")))
    except ValueError:
        pass
    if days is None:
        return None
    if days < 0:
        return ObligationStatus.overdue
    return ObligationStatus.due_today if days == 0 else ObligationStatus.upcoming


def alert_facts(event_type: str, payload: dict[str, Any]) -> AlertFacts:
    """The facts of an alert from its payload (older payloads lack some keys: they are
    read as well as they can be, never guessed)."""
    code = _text(payload, "branch_code") or _text(payload, "branch")
    test = bool(payload.get("test"))
    kind = None
    if not test:
        if event_type in OBLIGATION_EVENTS:
            kind = "obligation"
        elif event_type in CERTIFICATE_EVENTS:
            kind = "domain"
    due_on = expires_at = None
    last_known = False
    days: int | None = None
    status: ObligationStatus | SslCheckStatus | None = None
    if kind == "obligation":
        if payload.get("due_at"):
            due_on = date.fromisoformat(str(payload["due_at"])[:10])
        days = _int(payload.get("days_left"))
        status = _obligation_status(payload, days)
    elif kind == "domain":
        expires_at = _moment(payload.get("valid_to"))
        days = _int(payload.get("days_remaining"))
        if expires_at is None and (last := _moment(payload.get("last_valid_to"))) is not None:
            expires_at, last_known = last, True
            checked = _moment(payload.get("checked_at"))
            if checked is not None:
                days = int((last - checked) / timedelta(days=1))
        try:
            status = SslCheckStatus(str(payload.get("status")))
        except ValueError:
            status = None
    port = _int(payload.get("port"))
    return AlertFacts(
        kind=kind,
        branch_code=code,
        branch_name=_text(payload, "branch_name") if code else None,
        head_office=code is None and (kind == "domain" or test or bool(payload.get("head_office"))),
        entity_id=_text(payload, "obligation_instance_id" if kind == "obligation" else "domain_id"),
        title=_text(payload, "title") if kind == "obligation" else None,
        hostname=_text(payload, "host") if kind == "domain" else None,
        port=(port if port is not None else 443) if kind == "domain" else None,
        due_on=due_on,
        expires_at=expires_at,
        last_known=last_known,
        days=days,
        status=status,
        test=test,
    )


def _target(payload: dict[str, Any]) -> str:
    if payload.get("target"):
        return str(payload["target"])
    host, port = payload.get("host", "?"), payload.get("port", 443)
    return str(host) if port in (443, "443") else f"{host}:{port}"


def _branch(payload: dict[str, Any]) -> str:
    return str(payload.get("branch_code") or payload.get("branch") or "")


def _certificate_headline(texts: Texts, event_type: str, payload: dict[str, Any]) -> str:
    target, branch = _target(payload), _branch(payload)
    if event_type == "ssl_expiry":
        if branch:
            return texts.gettext("Certificate expiring: {target} ({branch})").format(
                target=target, branch=branch
            )
        return texts.gettext("Certificate expiring: {target} (head office)").format(target=target)
    if payload.get("state") == "recovered":
        if branch:
            return texts.gettext("Certificate check passes again: {target} ({branch})").format(
                target=target, branch=branch
            )
        return texts.gettext("Certificate check passes again: {target} (head office)").format(
            target=target
        )
    if branch:
        return texts.gettext("Certificate check failed: {target} ({branch})").format(
            target=target, branch=branch
        )
    return texts.gettext("Certificate check failed: {target} (head office)").format(target=target)


def headline(texts: Texts, event_type: str, payload: dict[str, Any]) -> str:
    """The first line of an alert: what happened, to what, where (the branch's code, or
    head office): also an email's subject, so two branches' alerts never read alike."""
    if payload.get("test"):
        if _branch(payload):
            return texts.gettext(
                "Intrex test alert for {branch}: if you can read this, the route works"
            ).format(branch=_branch(payload))
        return texts.gettext(TEST_HEADLINE)
    title = str(payload.get("title", "?"))
    branch = _branch(payload)
    if event_type == "obligation_due":
        return texts.gettext("Due soon: {title} ({branch})").format(title=title, branch=branch)
    if event_type == "obligation_overdue" and payload.get("escalated"):
        return texts.gettext("Seriously overdue: {title} ({branch})").format(
            title=title, branch=branch
        )
    if event_type == "obligation_overdue":
        return texts.gettext("Overdue: {title} ({branch})").format(title=title, branch=branch)
    if event_type in CERTIFICATE_EVENTS:
        return _certificate_headline(texts, event_type, payload)
    if event_type == "digest" and payload.get("today"):
        return texts.gettext("Your Intrex digest for {date}").format(
            date=texts.date(date.fromisoformat(str(payload["today"])))
        )
    return event_type.replace("_", " ")


def status_words(texts: Texts, facts: AlertFacts) -> str | None:
    """The status as people say it ("overdue", "name does not resolve"), never `dns_failed`."""
    return label(texts, facts.status) if facts.status is not None else None


def certificate_days(texts: Texts, days: int, *, expired: bool) -> str:
    """`Expires in 3 days`, `Expires today`, `Expired 2 days ago`, in this language."""
    if days < 0:
        return texts.ngettext("Expired {count} day ago", "Expired {count} days ago", -days).format(
            count=texts.number(-days)
        )
    if days == 0:
        return texts.gettext("Expired today") if expired else texts.gettext("Expires today")
    return texts.ngettext("Expires in {count} day", "Expires in {count} days", days).format(
        count=texts.number(days)
    )


def _branch_line(texts: Texts, facts: AlertFacts) -> str | None:
    if facts.branch_code and facts.branch_name:
        return texts.gettext("Branch: {code} — {name}").format(
            code=facts.branch_code, name=facts.branch_name
        )
    if facts.branch_code:
        return texts.gettext("Branch: {code}").format(code=facts.branch_code)
    if facts.head_office:
        return texts.gettext("Head office (no branch)")
    return None


def _expiry_lines(texts: Texts, facts: AlertFacts, timezone: str) -> list[str]:
    if facts.expires_at is None:
        return [texts.gettext("Certificate expiry: not known (no certificate could be read)")]
    local = texts.date(facts.expires_at.astimezone(ZoneInfo(timezone)).date())
    expired = (facts.days is not None and facts.days < 0) or facts.status is SslCheckStatus.expired
    if facts.last_known:
        line = (
            texts.gettext("Last certificate read expired on {date}")
            if expired
            else texts.gettext("Last certificate read expires on {date}")
        )
    else:
        line = (
            texts.gettext("Certificate expired on {date}")
            if expired
            else texts.gettext("Certificate expires on {date}")
        )
    lines = [line.format(date=local)]
    if facts.days is not None:
        lines.append(certificate_days(texts, facts.days, expired=expired))
    return lines


def fact_lines(texts: Texts, event_type: str, payload: dict[str, Any], timezone: str) -> list[str]:
    """The lines under the headline: where, when, how late, in what state."""
    facts = alert_facts(event_type, payload)
    lines = [line for line in [_branch_line(texts, facts)] if line]
    if facts.kind == "obligation":
        if facts.due_on is not None:
            lines.append(texts.gettext("Due: {date}").format(date=texts.date(facts.due_on)))
        if facts.days is not None:
            lines.append(texts.days_left(facts.days).capitalize())
        grace = _int(payload.get("grace_days"))
        if payload.get("escalated") and grace:
            lines.append(
                texts.ngettext(
                    "Still open {count} day after the due date: escalated",
                    "Still open {count} days after the due date: escalated",
                    grace,
                ).format(count=texts.number(grace))
            )
    elif facts.kind == "domain":
        lines.extend(_expiry_lines(texts, facts, timezone))
    words = status_words(texts, facts)
    if words:
        lines.append(texts.gettext("Status: {status}").format(status=words))
    if facts.kind == "domain" and payload.get("error_detail"):
        lines.append(texts.gettext("Detail: {detail}").format(detail=payload["error_detail"]))
    return lines


def dashboard_link(settings: Settings, event_type: str, payload: dict[str, Any]) -> str:
    """Where the dashboard shows this alert's cause: the obligation's page, else the overview."""
    base = settings.dashboard_base_url
    instance = payload.get("obligation_instance_id")
    if event_type in OBLIGATION_EVENTS and instance and not payload.get("test"):
        return f"{base}/app/obligations/{instance}"
    return f"{base}/app/"


def with_link(message: RenderedMessage, url: str | None) -> RenderedMessage:
    """The message with a line leading to the dashboard (text and HTML), in its language."""
    if not url:
        return message
    texts = texts_for(message.language)
    text = "\n".join(
        [message.text, texts.gettext("Open in the Intrex dashboard: {url}").format(url=url)]
    )
    link = texts.gettext('<a href="{url}">Open in the Intrex dashboard</a>').format(
        url=html.escape(url, quote=True)
    )
    body = message.html.removesuffix("</body></html>")
    return replace(message, text=text, html=f"{body}<p>{link}</p></body></html>")


TELEGRAM_LIMIT = 4096
"""Telegram refuses a longer message; a digest must fit one."""
DIGEST_TITLE_ROOM = 200
"""Kept free beside the digest's body for its headline (or `/digest`'s title) and a
dashboard link."""
REASON_LIMIT = 300
"""A waiver's reason is cut to this in the digest (up to 1,000 are stored), so one long
reason does not push the others out."""


def telegram_size(line: str) -> int:
    """What a line costs in a Telegram message at most: escaped for its HTML, counted in
    UTF-16 code units as Telegram counts, with its line break."""
    return len(html.escape(line, quote=False).encode("utf-16-le")) // 2 + 1


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _waiver_line(texts: Texts, waiver: dict[str, Any]) -> str:
    title, branch = waiver.get("title", "?"), waiver.get("branch", "")
    reason = _one_line(str(waiver.get("reason") or ""), REASON_LIMIT)
    if waiver.get("by"):
        return texts.gettext("• {title} ({branch}), waived by {name}: {reason}").format(
            title=title, branch=branch, name=waiver["by"], reason=reason
        )
    return texts.gettext("• {title} ({branch}), waived: {reason}").format(
        title=title, branch=branch, reason=reason
    )


def waiver_lines(texts: Texts, digest: dict[str, Any], budget: int) -> list[str]:
    """Head office's waivers of the digest's day, newest first, as many as `budget` (in
    `telegram_size`) holds; "… and N more" counts the rest."""
    total = int(digest.get("waivers_total", 0))
    if not total:
        return []
    lines = [
        texts.gettext("Waived in the last 24 hours: {count}").format(count=texts.number(total))
    ]
    used = telegram_size(lines[0])

    def more(count: int) -> str:
        return texts.gettext("… and {count} more").format(count=texts.number(count))

    for shown, waiver in enumerate(digest.get("waivers") or []):
        line = _waiver_line(texts, waiver)
        left = total - shown - 1
        room = telegram_size(more(left)) if left else 0
        if used + telegram_size(line) + room > budget:
            break
        lines.append(line)
        used += telegram_size(line)
    if total > len(lines) - 1:
        lines.append(more(total - (len(lines) - 1)))
    return lines


def digest_lines(texts: Texts, digest: dict[str, Any]) -> list[str]:
    """The digest's body from its payload (`DigestSummary.as_payload`): counts, then the
    most urgent items, then (head office's) the waivers, all within one Telegram message."""
    lines = _count_lines(texts, digest)
    budget = TELEGRAM_LIMIT - DIGEST_TITLE_ROOM - sum(telegram_size(line) for line in lines)
    return lines + waiver_lines(texts, digest, budget)


def _count_lines(texts: Texts, digest: dict[str, Any]) -> list[str]:
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
        facts = fact_lines(texts, event_type, payload, timezone)
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
