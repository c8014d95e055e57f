"""Monitored domains and the history of their certificate checks.

Besides the seed's columns a domain carries its scheduling state (`next_check_at`, and the
lease `claimed_until` / `claim_token` a scheduler replica holds while checking it) and its
failure episode (`failure_episode_id`, `failure_since`), so "one alert per episode" is a
fact in the row rather than a guess from the history.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_at, tenant_fk, uuid_pk
from core.db.enums import SslCheckStatus, ssl_check_status


class Domain(Base):
    """A host and port whose TLS certificate Intrex watches for a tenant."""

    __tablename__ = "domains"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "hostname", "port"),
        ForeignKeyConstraint(["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"]),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port"),
        Index("ix_domains_next_check_at", "next_check_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    branch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    hostname: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, server_default="443")
    status: Mapped[SslCheckStatus | None] = mapped_column(ssl_check_status)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    next_check_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    failure_episode_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    failure_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set while monitoring is paused (`intrex domain pause`): not checked, alerts ended."""


class SslCheckResult(Base):
    """One certificate check of one domain, kept as history."""

    __tablename__ = "ssl_check_results"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "domain_id"], ["domains.tenant_id", "domains.id"], ondelete="CASCADE"
        ),
        Index("ix_ssl_check_results_domain_checked", "domain_id", "checked_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    domain_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    check_status: Mapped[SslCheckStatus] = mapped_column(ssl_check_status)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    days_remaining: Mapped[int | None] = mapped_column(Integer)
    issuer_cn: Mapped[str | None] = mapped_column(String(500))
    fingerprint_sha256: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = created_at()
