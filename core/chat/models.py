"""One row per conversation key: the state a chat user is in and its data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base


class ChatState(Base):
    """What a chat user is in the middle of (e.g. "send the proof file for X").

    Keyed by the bot framework's storage key; not tenant-scoped (the chat user is known
    before their tenant is), so only the system path reads and writes it.
    """

    __tablename__ = "chat_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class LinkAttempt(Base):
    """A wrong `/start` code from a chat: the rate limit counts the last minute's rows.

    System path only, like `chat_states`: the chat belongs to no tenant yet.
    """

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_chat_id", "chat_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    attempted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
