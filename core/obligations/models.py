"""Jurisdictions, obligation templates, their per-branch instances and proof documents."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_at, tenant_fk, uuid_pk
from core.db.enums import (
    ObligationCategory,
    ObligationStatus,
    Severity,
    obligation_category,
    obligation_status,
    severity,
)

RECURRENCE_TYPES = ("none", "monthly", "quarterly", "semiannual", "annual")
RECURRENCE_CHECK = (
    f"recurrence_type IN {RECURRENCE_TYPES!r} OR recurrence_type ~ '^every:[1-9][0-9]{{0,3}}$'"
)
"""The five kinds, or `every:N` days (N at most four digits: `MAX_EVERY_DAYS` holds the line)."""
DEFAULT_REMINDER_LEAD_DAYS = (30, 14, 7, 3, 1, 0)
MAX_REMINDER_LEAD_DAYS = 366
MAX_GRACE_DAYS = 366
TEMPLATE_STATUSES = ("active", "inactive")
OPEN_PREDICATE = "status IN ('upcoming', 'due_today', 'overdue')"
"""Open instances: what the dashboard's partial indexes cover.

Partial indexes, because under row-level security the runtime role's planner cannot use
`status` as an index condition of (tenant_id, status, due_at): enum equality is not
leakproof, so it may only run after the policy's check. A predicate proven from the
query still selects a partial index, and these hold only the few open rows.
"""


class Jurisdiction(Base):
    """A compliance zone shared by all tenants (reference data: read-only to request paths)."""

    __tablename__ = "jurisdictions"

    id: Mapped[uuid.UUID] = uuid_pk()
    country_code: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(120))
    district: Mapped[str | None] = mapped_column(String(120))
    city_corporation: Mapped[str | None] = mapped_column(String(120))
    label: Mapped[str] = mapped_column(String(200))
    label_bn: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(80), unique=True)
    """Stable key of built-in reference data (`BD`, `BD-DHA`, `BD-DHA-DHAKA` …); None for
    a jurisdiction someone added."""
    level: Mapped[str | None] = mapped_column(String(20))
    """country, division, district or city_corporation (built-in data)."""


class ObligationTemplate(Base):
    """A reusable compliance rule; instances are generated from it per applicable branch."""

    __tablename__ = "obligation_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "catalogue_key"),
        CheckConstraint(RECURRENCE_CHECK, name="recurrence_type"),
        CheckConstraint(f"status IN {TEMPLATE_STATUSES!r}", name="status"),
        CheckConstraint(f"grace_days BETWEEN 0 AND {MAX_GRACE_DAYS}", name="grace_days"),
        CheckConstraint(
            f"0 <= ALL(reminder_lead_days) AND {MAX_REMINDER_LEAD_DAYS} >= ALL(reminder_lead_days)",
            name="reminder_lead_days",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "owner_user_id"], ["users.tenant_id", "users.id"]),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    jurisdiction_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jurisdictions.id")
    )
    category: Mapped[ObligationCategory] = mapped_column(obligation_category)
    title: Mapped[str] = mapped_column(String(300))
    recurrence_type: Mapped[str] = mapped_column(String(20), server_default="none")
    severity: Mapped[Severity] = mapped_column(severity)
    proof_required: Mapped[bool] = mapped_column(Boolean, server_default="false")
    description: Mapped[str | None] = mapped_column(Text)
    anchor_date: Mapped[date | None] = mapped_column(Date)
    """First due date of the series; every later one is computed from it (never from the last)."""
    reminder_lead_days: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), server_default=text("'{30,14,7,3,1,0}'::integer[]")
    )
    branch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    """Set for a one-branch rule (an imported row); None means jurisdiction matching decides."""
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    """`inactive`: no more instances are generated; those that exist stay (history)."""
    grace_days: Mapped[int] = mapped_column(Integer, server_default="0")
    """Days after the due date an open instance escalates (severity one step up); 0: never."""
    owner_user_id: Mapped[int | None] = mapped_column(Integer)
    """Owner given to the instances generated for branches in the owner's scope."""
    catalogue_key: Mapped[str | None] = mapped_column(String(60))
    """The catalogue entry this template was adopted from (`bd.trade_licence`)."""
    created_at: Mapped[datetime] = created_at()


class ObligationInstance(Base):
    """One dated compliance item of one branch: the thing staff complete."""

    __tablename__ = "obligation_instances"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["obligation_templates.tenant_id", "obligation_templates.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "completed_by_user_id"], ["users.tenant_id", "users.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "waived_by_user_id"], ["users.tenant_id", "users.id"]),
        ForeignKeyConstraint(["tenant_id", "owner_user_id"], ["users.tenant_id", "users.id"]),
        UniqueConstraint("template_id", "branch_id", "series_date"),
        Index("ix_obligation_instances_tenant_status_due", "tenant_id", "status", "due_at"),
        Index(
            "ix_obligation_instances_open_by_branch",
            "tenant_id",
            "branch_id",
            "due_at",
            postgresql_where=text(OPEN_PREDICATE),
        ),
        Index(
            "ix_obligation_instances_open_due",
            "tenant_id",
            "due_at",
            postgresql_where=text(OPEN_PREDICATE),
        ),
        Index(
            "ix_obligation_instances_open_report",
            "tenant_id",
            "due_at",
            postgresql_include=["branch_id", "severity", "category", "id"],
            postgresql_where=text(OPEN_PREDICATE),
        ),
        Index(
            "ix_obligation_instances_waived",
            "tenant_id",
            "waived_at",
            postgresql_include=["branch_id", "category", "id"],
            postgresql_where=text("status = 'waived'"),
        ),
        Index(
            "ix_obligation_instances_tenant_next_reminder",
            "tenant_id",
            "next_reminder_on",
            postgresql_where=text("next_reminder_on IS NOT NULL"),
        ),
        Index(
            "ix_obligation_instances_owner_user_id",
            "tenant_id",
            "owner_user_id",
            postgresql_where=text("owner_user_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    template_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    category: Mapped[ObligationCategory] = mapped_column(obligation_category)
    title: Mapped[str] = mapped_column(String(300))
    """The template's title when this instance was made (or last changed while open)."""
    severity: Mapped[Severity] = mapped_column(severity)
    status: Mapped[ObligationStatus] = mapped_column(obligation_status, server_default="upcoming")
    due_at: Mapped[date] = mapped_column(Date)
    series_date: Mapped[date] = mapped_column(Date)
    """The occurrence of the series this instance stands for (its first due date): the due
    date may be moved, and generation still knows this occurrence exists."""
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by_user_id: Mapped[int | None] = mapped_column(Integer)
    waived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waived_by_user_id: Mapped[int | None] = mapped_column(Integer)
    waive_reason: Mapped[str | None] = mapped_column(Text)
    owner_user_id: Mapped[int | None] = mapped_column(Integer)
    """The person this instance belongs to (SPEC §6): reminders go to them first."""
    next_reminder_on: Mapped[date | None] = mapped_column(Date)
    """Tenant-local date the clock next looks at its reminders (None: nothing more to send)."""
    created_at: Mapped[datetime] = created_at()


class ObligationSkip(Base):
    """An occurrence of a series someone deleted: generation does not make it again."""

    __tablename__ = "obligation_skips"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["obligation_templates.tenant_id", "obligation_templates.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    template_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    series_date: Mapped[date] = mapped_column(Date, primary_key=True)
    created_at: Mapped[datetime] = created_at()


class ObligationDocument(Base):
    """A proof file attached to an instance; the bytes live in storage under `storage_key`."""

    __tablename__ = "obligation_documents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "obligation_instance_id"],
            ["obligation_instances.tenant_id", "obligation_instances.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "uploaded_by_user_id"], ["users.tenant_id", "users.id"]),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        UniqueConstraint("obligation_instance_id", "sha256"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    obligation_instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()


class PendingUpload(Base):
    """A proof file Telegram holds that Intrex has accepted but not stored yet.

    Written when the "waiting for proof" state is consumed, before the download starts, and
    deleted in the transaction that records the document: a process killed in between
    leaves this row, whose lease runs out, and the bot's worker finishes the download.
    """

    __tablename__ = "pending_uploads"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "obligation_instance_id"],
            ["obligation_instances.tenant_id", "obligation_instances.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[int] = mapped_column(Integer)
    obligation_instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(100))
    """The ErrorCode of the last failed attempt (never a receiver's text)."""
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = created_at()
