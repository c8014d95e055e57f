"""Tenants, their branches and users, who may act for which branch, and one-time invites."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_at, tenant_fk, uuid_pk
from core.db.enums import AppRole, Language, app_role

TENANT_STATUSES = ("active", "suspended")
USER_STATUSES = ("active", "disabled")
BRANCH_STATUSES = ("active", "inactive")
LANGUAGES = tuple(language.value for language in Language)


class Tenant(Base):
    """A customer organisation; every other row belongs to exactly one."""

    __tablename__ = "tenants"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint(f"status IN {TENANT_STATUSES!r}", name="status"),
        CheckConstraint(f"language IS NULL OR language IN {LANGUAGES!r}", name="language"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    plan_name: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    quiet_hours_start: Mapped[time | None] = mapped_column(Time)
    quiet_hours_end: Mapped[time | None] = mapped_column(Time)
    language: Mapped[str | None] = mapped_column(String(5))
    """The tenant's default language for people who chose none (SPEC §8); None: DEFAULT_LANGUAGE."""
    created_at: Mapped[datetime] = created_at()


class User(Base):
    """A person acting in one tenant, reachable on Telegram once linked through an invite."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "email"),
        UniqueConstraint("telegram_user_id"),
        CheckConstraint(f"status IN {USER_STATUSES!r}", name="status"),
        CheckConstraint(f"language IS NULL OR language IN {LANGUAGES!r}", name="language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[AppRole] = mapped_column(app_role)
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_username: Mapped[str | None] = mapped_column(String(64))
    telegram_name: Mapped[str | None] = mapped_column(String(200))
    """The name on the person's Telegram account, refreshed from their updates."""
    full_name: Mapped[str | None] = mapped_column(String(200))
    """The name head office gave the person (an invite's or `user set --name`)."""
    language: Mapped[str | None] = mapped_column(String(5))
    """Chosen with /language; None: the Telegram client's, then the tenant's (SPEC §8)."""
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class Branch(Base):
    """A business location; obligations and domains hang off it."""

    __tablename__ = "branches"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(f"status IN {BRANCH_STATUSES!r}", name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    city_corporation: Mapped[str | None] = mapped_column(String(120))
    district: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    """`inactive`: generates no new obligations and its domains pause; nothing is deleted."""
    created_at: Mapped[datetime] = created_at()


class UserBranch(Base):
    """The branches a manager or operator may act for (admins act for all)."""

    __tablename__ = "user_branches"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "branch_id"], ["branches.tenant_id", "branches.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class InviteCode(Base):
    """A one-time code that links a Telegram account to its user; only its hash is kept.

    The user (role, branches, email, name) exists from the moment the invite is created,
    so routes and owners can name them before they link.
    """

    __tablename__ = "invite_codes"
    __table_args__ = (
        UniqueConstraint("code_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "created_by_user_id"], ["users.tenant_id", "users.id"]),
        ForeignKeyConstraint(["tenant_id", "revoked_by_user_id"], ["users.tenant_id", "users.id"]),
        Index("ix_invite_codes_user_id", "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    code_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(Integer)
    full_name: Mapped[str | None] = mapped_column(String(200))
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()


__all__ = ["Branch", "InviteCode", "Tenant", "User", "UserBranch"]
