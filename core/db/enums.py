"""The nine PostgreSQL enum types of the seed schema, named and valued verbatim."""

from __future__ import annotations

import enum

from sqlalchemy import Enum as SAEnum


class AppRole(enum.StrEnum):
    head_office_admin = "head_office_admin"
    branch_manager = "branch_manager"
    operator = "operator"

    @property
    def manages(self) -> bool:
        """Head office and branch managers: waive, reopen, check certificates."""
        return self in (AppRole.head_office_admin, AppRole.branch_manager)

    @property
    def head_office(self) -> bool:
        """Every branch of the tenant, and what belongs to no branch."""
        return self is AppRole.head_office_admin


class UserStatus(enum.StrEnum):
    active = "active"
    disabled = "disabled"


class BranchStatus(enum.StrEnum):
    active = "active"
    inactive = "inactive"


class InviteState(enum.StrEnum):
    """Derived from an invite's timestamps, not stored."""

    open = "open"
    used = "used"
    revoked = "revoked"
    expired = "expired"


class ObligationCategory(enum.StrEnum):
    trade_license = "trade_license"
    fire_safety = "fire_safety"
    tax_vat = "tax_vat"
    environmental_permit = "environmental_permit"
    inspection_renewal = "inspection_renewal"


class ObligationStatus(enum.StrEnum):
    upcoming = "upcoming"
    due_today = "due_today"
    overdue = "overdue"
    completed = "completed"
    waived = "waived"

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_OBLIGATION


OPEN_OBLIGATION = (ObligationStatus.upcoming, ObligationStatus.due_today, ObligationStatus.overdue)
CLOSED_OBLIGATION = (ObligationStatus.completed, ObligationStatus.waived)


class Severity(enum.StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class ConnectorType(enum.StrEnum):
    email_smtp = "email_smtp"
    telegram_bot = "telegram_bot"
    whatsapp_business = "whatsapp_business"
    webhook = "webhook"


class ConnectorStatus(enum.StrEnum):
    active = "active"
    disabled = "disabled"
    error = "error"
    pending_verification = "pending_verification"


class SslCheckStatus(enum.StrEnum):
    ok = "ok"
    warning = "warning"
    expired = "expired"
    handshake_failed = "handshake_failed"
    dns_failed = "dns_failed"
    timeout = "timeout"
    hostname_mismatch = "hostname_mismatch"

    @property
    def failing(self) -> bool:
        return self not in (SslCheckStatus.ok, SslCheckStatus.warning)


FAILING_CHECKS = tuple(status for status in SslCheckStatus if status.failing)


class NotificationEventType(enum.StrEnum):
    obligation_due = "obligation_due"
    obligation_overdue = "obligation_overdue"
    ssl_expiry = "ssl_expiry"
    ssl_failure = "ssl_failure"
    digest = "digest"


class NotificationStatus(enum.StrEnum):
    queued = "queued"
    processing = "processing"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"
    acked = "acked"
    dead_letter = "dead_letter"


PENDING_NOTIFICATION = (
    NotificationStatus.queued,
    NotificationStatus.processing,
    NotificationStatus.failed,
)
"""Not yet delivered nor given up: what acknowledging or resolving an alert cancels."""
OPEN_ALERT = (*PENDING_NOTIFICATION, NotificationStatus.sent, NotificationStatus.dead_letter)
"""An alert nobody has acknowledged and whose cause is still there."""
CLOSED_ALERT = (NotificationStatus.acked, NotificationStatus.cancelled)
"""An event in one of these needs nobody's attention any more; any other status is open
(a dead letter too: it still waits for someone to act on it)."""


class Language(enum.StrEnum):
    """The languages every text exists in (SPEC §8); `en` is the catalogues' source."""

    en = "en"
    bn = "bn"


def pg_enum(python_enum: type[enum.StrEnum], name: str) -> SAEnum:
    """A PostgreSQL enum type whose labels are the Python values, created by migrations only."""
    return SAEnum(
        python_enum,
        name=name,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
        create_type=False,
    )


app_role = pg_enum(AppRole, "app_role")
obligation_category = pg_enum(ObligationCategory, "obligation_category")
obligation_status = pg_enum(ObligationStatus, "obligation_status")
severity = pg_enum(Severity, "severity")
connector_type = pg_enum(ConnectorType, "connector_type")
connector_status = pg_enum(ConnectorStatus, "connector_status")
ssl_check_status = pg_enum(SslCheckStatus, "ssl_check_status")
notification_event_type = pg_enum(NotificationEventType, "notification_event_type")
notification_status = pg_enum(NotificationStatus, "notification_status")

ALL_ENUM_TYPES = (
    app_role,
    obligation_category,
    obligation_status,
    severity,
    connector_type,
    connector_status,
    ssl_check_status,
    notification_event_type,
    notification_status,
)
