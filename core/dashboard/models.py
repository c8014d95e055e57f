"""Dashboard sign-in and feeds: single-use login links, sessions, calendar tokens.

Only SHA-256 hashes of the secrets are stored (`core.crypto.hash_token`): a copy of the
database signs nobody in and opens nobody's calendar.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_at, tenant_fk, uuid_pk


class WebLoginToken(Base):
    """A single-use link from `/dashboard` for a desktop browser (10 minutes)."""

    __tablename__ = "web_login_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_web_login_tokens_user_id", "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[int] = mapped_column(Integer)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class WebSession(Base):
    """A signed-in browser (8 hours). The cookie carries the tenant, the token and a signature;
    the row carries the CSRF token and ends at logout."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_web_sessions_user_id", "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[int] = mapped_column(Integer)
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    signed_in_with: Mapped[str] = mapped_column(String(20))
    """`telegram` (the Web App's initData) or `link` (a login link)."""
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class CalendarFeed(Base):
    """A person's private calendar URL; a new token replaces (and so revokes) the old."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        UniqueConstraint("tenant_id", "user_id"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[int] = mapped_column(Integer)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()


__all__ = ["CalendarFeed", "WebLoginToken", "WebSession"]
