"""What the bot says that no single router owns: escaping, marks, clipping, the help.

Every sentence is a catalogue msgid (`_` from aiogram's i18n, in the reader's language);
user-supplied text is escaped for Telegram's HTML and never translated.
"""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _

from core.db.enums import AppRole, ObligationStatus, Severity, SslCheckStatus
from core.i18n import N_
from core.tenancy.members import Membership

MESSAGE_LIMIT = 4096
"""Telegram refuses a longer message (after entity parsing)."""
POPUP_LIMIT = 200
"""A callback answer's text is cut by Telegram at 200 characters."""

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
CERTIFICATE_MARK = {
    SslCheckStatus.ok: "🟢",
    SslCheckStatus.warning: "🟡",
    SslCheckStatus.expired: "🔴",
    SslCheckStatus.hostname_mismatch: "🔴",
    SslCheckStatus.handshake_failed: "🔴",
    SslCheckStatus.dns_failed: "🔴",
    SslCheckStatus.timeout: "🟠",
}


def e(text: object) -> str:
    """Escape anything for Telegram HTML."""
    return escape(str(text), quote=False)


def clip(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis (a pop-up, a quoted input)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_lines(lines: list[str], limit: int = MESSAGE_LIMIT) -> str:
    """Join lines into one message under Telegram's limit, dropping whole lines from the end.

    Each line is already escaped HTML, so lines are never cut in the middle (a cut tag or
    entity would be refused); one line longer than the limit on its own is cut as text.
    """
    kept: list[str] = []
    size = 0
    marker = "…"
    for line in lines:
        if len(line) > limit:
            line = clip(line, limit - 2)
        extra = len(line) + (1 if kept else 0)
        if size + extra > limit - len(marker) - 1:
            kept.append(marker)
            break
        kept.append(line)
        size += extra
    return "\n".join(kept)


ROLE_SENTENCES = {
    AppRole.head_office_admin: N_("You are a head office admin of {company}."),
    AppRole.branch_manager: N_("You are a branch manager of {company} for {branches}."),
    AppRole.operator: N_("You are an operator of {company} for {branches}."),
}


def who_you_are(member: Membership) -> str:
    """`Hello, Karim! You are an operator of Acme for DHK-01.`: name, role, company, branches."""
    branches = ", ".join(member.branch_codes) or _("no branch yet")
    role = _(ROLE_SENTENCES[member.role]).format(
        company=e(member.tenant_name), branches=e(branches)
    )
    if member.full_name:
        return _("Hello, {name}!").format(name=e(member.full_name)) + " " + role
    return _("Hello!") + " " + role


def help_text(member: Membership) -> str:
    """What this person can do, by role, in their language."""
    role = member.role
    lines = [
        who_you_are(member),
        "",
        _("/obligations [overdue|today|week|all]: open obligations"),
        _("/obligations mine: the obligations you own"),
    ]
    if role is AppRole.operator:
        lines.append(_("    ✅ complete one, 📎 upload its proof (a document or a photo)"))
    else:
        lines.append(_("    ✅ complete, 📎 upload proof, ✋ waive with a reason"))
    lines += [
        _("/alerts: unacknowledged alerts, to acknowledge"),
        _("/domains: monitored certificates"),
    ]
    if role.manages:
        lines += [
            _("/check HOST[:PORT]: check a certificate now"),
            _("/report [BRANCH]: the branches' health, with a chart and an export"),
            _("/export [obligations|domains|audit|deliveries]: a spreadsheet of them"),
        ]
    if role is AppRole.branch_manager:
        lines.append(_("/users: the people of your branches"))
    if role.head_office:
        lines += [
            _("/adddomain HOST[:PORT] [BRANCH]: monitor a certificate"),
            _("/removedomain HOST[:PORT]: stop monitoring"),
            _("/users: people, to disable, enable, change role or branches"),
            _("/invite ROLE [BRANCH...] [EMAIL]: invite a colleague"),
            _("/invites: open invites, to revoke"),
            _("/templates: obligation templates; adopt the standard catalogue"),
            _("/audit: who changed what, latest first"),
            _("/linkgroup BRANCH (in a group): the branch's alerts go to that group"),
        ]
    lines += [
        _("/dashboard: the web dashboard (a sign-in link) and your calendar feed"),
        _("/digest: today's summary"),
        _("/language: English or বাংলা"),
        _("/help: this list"),
    ]
    return "\n".join(lines)
