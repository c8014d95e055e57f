"""Connectors, routing rules, the event outbox, delivery attempts and acknowledgements."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_at, tenant_fk, uuid_pk
from core.db.enums import (
    ConnectorStatus,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    Severity,
    connector_status,
    connector_type,
    notification_event_type,
    notification_status,
    severity,
)


class Connector(Base):
    """A delivery channel of a tenant; its configuration (tokens, passwords) is encrypted."""

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), UniqueConstraint("tenant_id", "name"))

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    type: Mapped[ConnectorType] = mapped_column(connector_type)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[ConnectorStatus] = mapped_column(connector_status, server_default="active")
    config_encrypted_json: Mapped[str] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class NotificationRoute(Base):
    """Which events (branch, type, minimum severity) go to which connector and recipient."""

    __tablename__ = "notification_routes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
        CheckConstraint("delay_minutes >= 0", name="delay_minutes"),
        CheckConstraint("level >= 1", name="level"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    branch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    connector_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[NotificationEventType | None] = mapped_column(notification_event_type)
    severity_min: Mapped[Severity] = mapped_column(severity, server_default="low")
    recipient_ref: Mapped[str] = mapped_column(String(320))
    level: Mapped[int] = mapped_column(Integer, server_default="1")
    delay_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = created_at()


class NotificationEvent(Base):
    """Something someone must hear about: the outbox row, written with the change that caused it."""

    __tablename__ = "notification_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
        Index("ix_notification_events_fingerprint", "fingerprint"),
        ForeignKeyConstraint(["tenant_id", "resolved_by_user_id"], ["users.tenant_id", "users.id"]),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    branch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[NotificationEventType] = mapped_column(notification_event_type)
    severity: Mapped[Severity] = mapped_column(severity, server_default="medium")
    fingerprint: Mapped[str] = mapped_column(String(200))
    payload_json: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[NotificationStatus] = mapped_column(notification_status, server_default="queued")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by_user_id: Mapped[int | None] = mapped_column(Integer)
    is_test: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """`intrex notify test`: a check of the routes and connectors, not an alert (the seed's
    event types stay as they are; a test's type says only what it imitates)."""
    resolution: Mapped[str | None] = mapped_column(String(40))
    """How its cause went away: completed, waived, deleted, domain_removed, domain_paused,
    recovered (the event is then `cancelled`)."""
    created_at: Mapped[datetime] = created_at()


class NotificationStep(Base):
    """One planned delivery of an event: a connector, a recipient, a level, a time.

    The plan is fixed when the event is created (the routes then in force); the dispatcher
    claims due steps with a lease, and each attempt at a step is a `notification_deliveries`
    row. The step's idempotency key is sent with every attempt so a receiver can drop repeats.
    """

    __tablename__ = "notification_steps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("idempotency_key"),
        ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            ondelete="CASCADE",
        ),
        Index(
            "ix_notification_steps_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'failed', 'processing')"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    notification_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    route_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    connector_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    recipient_ref: Mapped[str] = mapped_column(String(320))
    level: Mapped[int] = mapped_column(Integer, server_default="1")
    status: Mapped[NotificationStatus] = mapped_column(notification_status, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), server_default=text("gen_random_uuid()")
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class NotificationDelivery(Base):
    """One attempt to deliver one event through one connector."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "step_id"],
            ["notification_steps.tenant_id", "notification_steps.id"],
            ondelete="CASCADE",
        ),
        Index(
            "ix_notification_deliveries_provider_message_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        Index(
            "ix_notification_deliveries_connector_created",
            "connector_id",
            "created_at",
            postgresql_include=["delivery_status", "tenant_id"],
        ),
        Index(
            "ix_notification_deliveries_connector_failures",
            "connector_id",
            "created_at",
            postgresql_include=["tenant_id"],
            postgresql_where=text("delivery_status <> 'sent'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    notification_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    connector_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    step_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    recipient_ref: Mapped[str | None] = mapped_column(String(320))
    attempt_no: Mapped[int] = mapped_column(Integer)
    delivery_status: Mapped[NotificationStatus] = mapped_column(notification_status)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    """Where a Telegram copy landed, so acknowledging or resolving can edit every copy."""
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    """The provider's id of the sent message (WhatsApp's `wamid`), for its later statuses."""
    provider_status: Mapped[str | None] = mapped_column(String(20))
    """What the provider reported last: sent, delivered, read or failed."""
    provider_status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at()


class RateBucket(Base):
    """A token bucket every replica shares (Telegram's limits): `tokens` left at
    `refilled_at`; whoever takes a token refills it first by the time passed. System path
    only: it belongs to no tenant."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Acknowledgement(Base):
    """A user saying "I have this": stops the event's escalation."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint("notification_event_id"),
        ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "ack_by_user_id"], ["users.tenant_id", "users.id"]),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    notification_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ack_by_user_id: Mapped[int] = mapped_column(Integer)
    ack_note: Mapped[str | None] = mapped_column(Text)
    ack_at: Mapped[datetime] = created_at()


GROUP_STATUSES = ("active", "removed")
EDIT_KINDS = ("acknowledged", "resolved")
EDIT_STATUSES = ("pending", "done", "failed")


class BranchGroup(Base):
    """A Telegram group linked to a branch (`/linkgroup`): routes name it `group:CODE`."""

    __tablename__ = "branch_groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "linked_by_user_id"], ["users.tenant_id", "users.id"]),
        CheckConstraint(f"status IN {GROUP_STATUSES!r}", name="status"),
        Index(
            "uq_branch_groups_active_chat",
            "chat_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    linked_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TelegramEdit(Base):
    """A delivered Telegram copy to edit (acknowledged or resolved): claimed with a lease
    and sent within the Telegram limits like a delivery, so every copy in every chat
    follows, across replicas, exactly once."""

    __tablename__ = "telegram_edits"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["notification_deliveries.tenant_id", "notification_deliveries.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("delivery_id", "kind"),
        CheckConstraint(f"kind IN {EDIT_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {EDIT_STATUSES!r}", name="status"),
        Index(
            "ix_telegram_edits_pending",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    notification_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
