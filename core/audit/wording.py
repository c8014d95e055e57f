"""The audit trail in words: actions, rows and fields as people say them, in their language.

Stored entries stay identifiers (`obligation.complete`, `completed_by_user_id`, `2026-06-30`);
every surface that shows the trail (the bot's /audit, `intrex audit list`) reads it through
these, so a reader sees "completed an obligation: completed by — → Karim Ahmed" in English
or Bengali, dates and times in the tenant's zone. An action or field this catalogue does
not know yet is shown by its identifier, never dropped.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import date, datetime
from typing import Any

from core.audit.queries import AuditEntry, AuditPage, FieldChange, is_user_field
from core.db.enums import (
    AppRole,
    BranchStatus,
    ConnectorStatus,
    ConnectorType,
    Language,
    NotificationEventType,
    ObligationCategory,
    ObligationStatus,
    Severity,
    SslCheckStatus,
    UserStatus,
)
from core.i18n import N_, Texts
from core.i18n.labels import label

ACTIONS: dict[str, str] = {
    "alert.acknowledge": N_("acknowledged an alert"),
    "branch.activate": N_("activated a branch"),
    "branch.create": N_("created a branch"),
    "branch.deactivate": N_("deactivated a branch"),
    "branch.update": N_("changed a branch"),
    "connector.add": N_("added a connector"),
    "connector.disable": N_("disabled a connector"),
    "connector.enable": N_("enabled a connector"),
    "domain.add": N_("started monitoring a certificate"),
    "domain.import": N_("imported domains from a file"),
    "domain.pause": N_("paused monitoring of a certificate"),
    "domain.remove": N_("stopped monitoring a certificate"),
    "domain.resume": N_("resumed monitoring of a certificate"),
    "group.link": N_("linked a Telegram group to a branch"),
    "group.unlink": N_("unlinked a Telegram group"),
    "invite.create": N_("created an invite"),
    "invite.revoke": N_("revoked an invite"),
    "notification.retry": N_("retried failed alerts"),
    "obligation.add": N_("added a one-off obligation"),
    "obligation.complete": N_("completed an obligation"),
    "obligation.delete": N_("deleted an obligation"),
    "obligation.document.upload": N_("uploaded a proof file"),
    "obligation.generate": N_("generated obligations from the templates"),
    "obligation.import": N_("imported obligations from a file"),
    "obligation.reopen": N_("reopened an obligation"),
    "obligation.update": N_("changed an obligation"),
    "obligation.waive": N_("waived an obligation"),
    "obligation_template.activate": N_("activated a template"),
    "obligation_template.create": N_("created a template"),
    "obligation_template.deactivate": N_("deactivated a template"),
    "obligation_template.delete": N_("deleted a template"),
    "obligation_template.update": N_("changed a template"),
    "route.add": N_("added an alert route"),
    "route.remove": N_("removed an alert route"),
    "tenant.create": N_("created the company"),
    "tenant.update": N_("changed the company's settings"),
    "user.disable": N_("disabled a person"),
    "user.enable": N_("enabled a person"),
    "user.invite": N_("invited a person"),
    "user.language": N_("chose a language"),
    "user.link": N_("linked a Telegram account"),
    "user.update": N_("changed a person"),
}
"""Every action core records (`grep -rn 'action="' core`), as a phrase that follows a name."""

FIELDS: dict[str, str] = {
    "anchor_date": N_("first due date"),
    "branch_id": N_("branch"),
    "branches": N_("branches"),
    "catalogue_key": N_("catalogue entry"),
    "category": N_("category"),
    "chat_id": N_("chat"),
    "city_corporation": N_("city corporation"),
    "code": N_("code"),
    "completed_at": N_("completed at"),
    "completed_by_user_id": N_("completed by"),
    "count": N_("rows"),
    "created": N_("created"),
    "delay_minutes": N_("delay (minutes)"),
    "description": N_("description"),
    "district": N_("district"),
    "due_at": N_("due date"),
    "email": N_("email"),
    "event_type": N_("alert type"),
    "expires_at": N_("expires at"),
    "filename": N_("file"),
    "full_name": N_("name"),
    "grace_days": N_("grace days"),
    "hostname": N_("host"),
    "language": N_("language"),
    "last_error": N_("last error"),
    "level": N_("level"),
    "mime_type": N_("file type"),
    "name": N_("name"),
    "next_reminder_on": N_("next reminder"),
    "owner_user_id": N_("owner"),
    "paused_at": N_("paused at"),
    "port": N_("port"),
    "proof_required": N_("proof required"),
    "quiet_hours_end": N_("quiet hours end"),
    "quiet_hours_start": N_("quiet hours start"),
    "reason": N_("reason"),
    "recipient_ref": N_("recipient"),
    "recurrence_type": N_("recurrence"),
    "region": N_("division"),
    "reminder_lead_days": N_("reminder days"),
    "resolved_alerts": N_("alerts resolved"),
    "role": N_("role"),
    "series_date": N_("series date"),
    "severity": N_("severity"),
    "severity_min": N_("lowest severity"),
    "sha256": N_("SHA-256"),
    "size_bytes": N_("size"),
    "status": N_("status"),
    "telegram_name": N_("Telegram name"),
    "telegram_user_id": N_("Telegram account"),
    "telegram_username": N_("Telegram username"),
    "timezone": N_("time zone"),
    "title": N_("title"),
    "type": N_("type"),
    "user_id": N_("person"),
    "waive_reason": N_("waiver reason"),
    "waived_at": N_("waived at"),
    "waived_by_user_id": N_("waived by"),
}

ENTITY_STATUSES: dict[str, type[enum.Enum]] = {
    "obligation_instance": ObligationStatus,
    "user": UserStatus,
    "branch": BranchStatus,
    "obligation_template": BranchStatus,
    "connector": ConnectorStatus,
}
"""`status` means a different set of values on each kind of row (a template is active or
inactive, as a branch is, and reads the same)."""

FIELD_VALUES: dict[str, type[enum.Enum]] = {
    "role": AppRole,
    "category": ObligationCategory,
    "severity": Severity,
    "severity_min": Severity,
    "event_type": NotificationEventType,
    "check_status": SslCheckStatus,
    "type": ConnectorType,
    "language": Language,
}

NOBODY = "—"
VALUE_LIMIT = 60
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MOMENT_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def clipped(text: str, limit: int = VALUE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def action_text(texts: Texts, action: str) -> str:
    words = ACTIONS.get(action)
    return texts.gettext(words) if words else action


def field_text(texts: Texts, name: str) -> str:
    words = FIELDS.get(name)
    return texts.gettext(words) if words else name.replace("_", " ")


def who_text(texts: Texts, entry: AuditEntry) -> str:
    if entry.user_id is None:
        return texts.gettext("the command line or Intrex itself")
    return entry.user_name or f"#{entry.user_id}"


def _enum_value(kind: type[enum.Enum], value: str) -> enum.Enum | None:
    try:
        return kind(value)
    except ValueError:
        return None


def value_text(
    texts: Texts,
    page: AuditPage,
    entity_type: str,
    name: str,
    value: Any,
    timezone: str,
) -> str:
    """One field's value for people: names for people and branches, words for the schema's
    values, dates and times in the tenant's zone, sizes in bytes, long text clipped."""
    if value is None or value == "" or value == []:
        return NOBODY
    if isinstance(value, bool):
        return texts.gettext("yes") if value else texts.gettext("no")
    if isinstance(value, int) and is_user_field(name):
        return clipped(page.user_names.get(value, f"#{value}"))
    if isinstance(value, int) and (name.endswith("_id") or name == "port"):
        return texts.digits(str(value))
    if isinstance(value, int):
        return texts.size(value) if name == "size_bytes" else texts.number(value)
    if isinstance(value, str):
        return _string_text(texts, page, entity_type, name, value, timezone)
    if isinstance(value, list) and all(isinstance(item, str | int) for item in value):
        return clipped(", ".join(str(item) for item in value))
    if isinstance(value, list):
        return texts.ngettext("{count} item", "{count} items", len(value)).format(
            count=texts.number(len(value))
        )
    return clipped(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def _string_text(
    texts: Texts, page: AuditPage, entity_type: str, name: str, value: str, timezone: str
) -> str:
    kind = ENTITY_STATUSES.get(entity_type) if name == "status" else FIELD_VALUES.get(name)
    member = _enum_value(kind, value) if kind is not None else None
    if member is not None:
        return label(texts, member)
    if name == "branch_id" and value in page.branch_codes:
        return page.branch_codes[value]
    if DATE_PATTERN.fullmatch(value):
        return texts.date(date.fromisoformat(value))
    if MOMENT_PATTERN.match(value):
        try:
            return texts.moment(datetime.fromisoformat(value), timezone)
        except ValueError:
            return clipped(value)
    if UUID_PATTERN.fullmatch(value):
        return value[:8]
    return clipped(value)


def change_text(
    texts: Texts, page: AuditPage, entry: AuditEntry, change: FieldChange, timezone: str
) -> str:
    """`status: upcoming → completed`, in the reader's words."""
    return texts.gettext("{field}: {before} → {after}").format(
        field=field_text(texts, change.field),
        before=value_text(texts, page, entry.entity_type, change.field, change.before, timezone),
        after=value_text(texts, page, entry.entity_type, change.field, change.after, timezone),
    )
