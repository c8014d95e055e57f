"""The words for the schema's values (statuses, roles, categories), in the reader's language.

Stored values stay English identifiers (`due_today`); people read these instead.
"""

from __future__ import annotations

import enum

from core.db.enums import (
    AppRole,
    BranchStatus,
    InviteState,
    Language,
    NotificationEventType,
    ObligationCategory,
    ObligationStatus,
    Severity,
    SslCheckStatus,
    UserStatus,
)
from core.i18n import N_, Texts
from core.notify.health import HealthStatus

LABELS: dict[enum.Enum, str] = {
    HealthStatus.healthy: N_("healthy"),
    HealthStatus.degraded: N_("degraded"),
    HealthStatus.failing: N_("failing"),
    HealthStatus.idle: N_("idle"),
    HealthStatus.disabled: N_("switched off"),
    AppRole.head_office_admin: N_("head office admin"),
    AppRole.branch_manager: N_("branch manager"),
    AppRole.operator: N_("operator"),
    UserStatus.active: N_("active"),
    UserStatus.disabled: N_("disabled"),
    BranchStatus.active: N_("active"),
    BranchStatus.inactive: N_("deactivated"),
    InviteState.open: N_("open"),
    InviteState.used: N_("used"),
    InviteState.revoked: N_("revoked"),
    InviteState.expired: N_("expired"),
    ObligationStatus.upcoming: N_("upcoming"),
    ObligationStatus.due_today: N_("due today"),
    ObligationStatus.overdue: N_("overdue"),
    ObligationStatus.completed: N_("completed"),
    ObligationStatus.waived: N_("waived"),
    ObligationCategory.trade_license: N_("trade licence"),
    ObligationCategory.fire_safety: N_("fire safety"),
    ObligationCategory.tax_vat: N_("VAT / tax"),
    ObligationCategory.environmental_permit: N_("environmental permit"),
    ObligationCategory.inspection_renewal: N_("inspection renewal"),
    Severity.low: N_("low"),
    Severity.medium: N_("medium"),
    Severity.high: N_("high"),
    Severity.critical: N_("critical"),
    SslCheckStatus.ok: N_("valid"),
    SslCheckStatus.warning: N_("expiring soon"),
    SslCheckStatus.expired: N_("expired"),
    SslCheckStatus.handshake_failed: N_("TLS handshake failed"),
    SslCheckStatus.dns_failed: N_("name does not resolve"),
    SslCheckStatus.timeout: N_("no answer in time"),
    SslCheckStatus.hostname_mismatch: N_("certificate is for another name"),
    NotificationEventType.obligation_due: N_("due soon"),
    NotificationEventType.obligation_overdue: N_("overdue"),
    NotificationEventType.ssl_expiry: N_("certificate expiring"),
    NotificationEventType.ssl_failure: N_("certificate check failed"),
    NotificationEventType.digest: N_("digest"),
    Language.en: "English",
    Language.bn: "বাংলা",
}
"""Language names are written in their own language, as every language menu does."""


def label(texts: Texts, value: enum.Enum) -> str:
    word = LABELS.get(value)
    if word is None:
        return str(value.value).replace("_", " ")
    return word if isinstance(value, Language) else texts.gettext(word)
