"""Turning an event into words: short, specific, and the same across every channel."""

from __future__ import annotations

import html
from typing import Any

from core.notify.channels.base import RenderedMessage

SEVERITY_MARK = {"low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}

HEADLINES = {
    "obligation_due": "Due soon: {title}",
    "obligation_overdue": "Overdue: {title}",
    "ssl_expiry": "Certificate expiring: {host}",
    "ssl_failure": "Certificate check failed: {host}",
    "digest": "Your Intrex digest",
}

FIELD_LABELS = (
    ("branch", "Branch"),
    ("due_date", "Due"),
    ("days_left", "Days left"),
    ("days_overdue", "Days overdue"),
    ("status", "Status"),
    ("days_remaining", "Days remaining"),
    ("valid_to", "Valid until"),
    ("error_detail", "Detail"),
    ("summary", "Summary"),
)


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def headline(event_type: str, payload: dict[str, Any]) -> str:
    if "headline" in payload:
        return str(payload["headline"])
    values = _Missing(payload)
    if "host" in payload and "port" in payload and payload["port"] not in (443, "443"):
        values["host"] = f"{payload['host']}:{payload['port']}"
    return HEADLINES.get(event_type, event_type.replace("_", " ").capitalize()).format_map(values)


def render(event_type: str, severity: str, payload: dict[str, Any]) -> RenderedMessage:
    """The message for an event; payload keys that are known get a label, others are left out."""
    title = headline(event_type, payload)
    mark = SEVERITY_MARK.get(severity, "")
    shown = [
        (label, str(payload[key])) for key, label in FIELD_LABELS if payload.get(key) is not None
    ]
    text = "\n".join([f"{mark} {title}".strip(), *(f"{label}: {value}" for label, value in shown)])
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in shown
    )
    body = f"<p><strong>{html.escape(title)}</strong> ({html.escape(severity)})</p>"
    if rows:
        body += f"<table>{rows}</table>"
    return RenderedMessage(
        subject=f"[Intrex {severity}] {title}",
        text=text,
        html=f"<html><body>{body}</body></html>",
        data={"event_type": event_type, "severity": severity, "payload": payload},
    )
