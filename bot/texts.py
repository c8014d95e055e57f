"""Short, safe message text: user-supplied text escaped, dates in the tenant's time zone."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from core.db.enums import AppRole, ObligationStatus, Severity

NOT_LINKED = (
    "This chat is not linked to Intrex yet.\n"
    "Ask your administrator for an invite, then send <code>/start CODE</code> "
    "or open the invite link."
)
STATUS_MARK = {
    ObligationStatus.overdue: "🔴",
    ObligationStatus.due_today: "🟠",
    ObligationStatus.upcoming: "🟢",
    ObligationStatus.completed: "✅",
    ObligationStatus.waived: "⚪",
}
SEVERITY_MARK = {
    Severity.critical: "🔴",
    Severity.high: "🟠",
    Severity.medium: "🟡",
    Severity.low: "🔵",
}

HELP = {
    AppRole.operator: [
        "/obligations [overdue|today|week|all] — your branches' open obligations",
        "/alerts — unacknowledged alerts",
        "/domains — monitored certificates",
        "/digest — today's summary",
    ],
    AppRole.branch_manager: [
        "/obligations [overdue|today|week|all] — complete, add proof, waive",
        "/alerts — unacknowledged alerts",
        "/domains — monitored certificates",
        "/check HOST[:PORT] — check a certificate now",
        "/digest — today's summary",
    ],
    AppRole.head_office_admin: [
        "/obligations [overdue|today|week|all] — every branch",
        "/alerts — unacknowledged alerts",
        "/domains — monitored certificates",
        "/adddomain HOST[:PORT] [BRANCH] — monitor a certificate",
        "/removedomain HOST[:PORT] — stop monitoring",
        "/check HOST[:PORT] — check a certificate now",
        "/invite ROLE [BRANCH] — invite a colleague",
        "/digest — today's summary",
    ],
}


def e(text: object) -> str:
    """Escape anything for Telegram HTML."""
    return escape(str(text), quote=False)


def local_time(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d %b %Y %H:%M")


def days_phrase(days_left: int) -> str:
    if days_left < 0:
        return f"overdue by {-days_left} day{'s' if days_left != -1 else ''}"
    if days_left == 0:
        return "due today"
    return f"due in {days_left} day{'s' if days_left != 1 else ''}"


def with_article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def help_text(role: AppRole, name: str | None) -> str:
    lines = [f"Hello{', ' + e(name) if name else ''}! You are {e(role.value.replace('_', ' '))}."]
    lines += HELP[role]
    return "\n".join(lines)
