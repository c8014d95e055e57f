"""When each periodic job last ran, so a job meant for once a period runs once across replicas.

Every worker's scheduler ticks every job; a job that must not run on every tick (retention,
daily) first claims its period here. The claim is one atomic upsert: the row's
`last_started_at` moves to now only if the last start is at least a period old, and only
the caller whose statement moved it gets the row back. Two workers ticking together both
send it; PostgreSQL's row lock makes the second see the first's new start and return
nothing. A run that crashes is not retried before its period is over: the next one does
its work then. System path only: the table belongs to no tenant.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base


class JobRun(Base):
    """One periodic job's last start and finish, and what its last finished run did."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """The last finished run's counts (rows pruned...), for an operator reading the table."""


CLAIM_SQL = text(
    """
    INSERT INTO job_runs AS r (name, last_started_at) VALUES (:name, CAST(:now AS timestamptz))
    ON CONFLICT (name) DO UPDATE SET last_started_at = EXCLUDED.last_started_at
    WHERE r.last_started_at <= CAST(:now AS timestamptz) - CAST(:every AS interval)
    RETURNING r.name
    """
)


async def claim_run(session: AsyncSession, name: str, *, every: timedelta, now: datetime) -> bool:
    """Whether this caller runs `name` now: True for exactly one caller per `every`."""
    claimed = await session.scalar(CLAIM_SQL, {"name": name, "now": now, "every": every})
    return claimed is not None


async def finish_run(
    session: AsyncSession, name: str, *, now: datetime, result: dict[str, Any]
) -> None:
    """Record that the claimed run of `name` finished, and what it did."""
    await session.execute(
        update(JobRun).where(JobRun.name == name).values(last_finished_at=now, last_result=result)
    )
