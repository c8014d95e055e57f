"""The one clock every job and service reads, so time can be sped up for a rehearsal.

Normally it is the system's UTC time. With INTREX_CLOCK_SPEED set (tests, demos), time runs
that many times faster from INTREX_CLOCK_EPOCH (a Unix time; processes given the same epoch
and speed agree on the simulated time): a day of scheduler rounds in a minute.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta


def _speed() -> tuple[float, float] | None:
    raw = os.environ.get("INTREX_CLOCK_SPEED")
    if not raw:
        return None
    epoch = float(os.environ.get("INTREX_CLOCK_EPOCH") or time.time())
    return float(raw), epoch


_ACCELERATION = _speed()


def utc_now(now: datetime | None = None) -> datetime:
    """`now` when given (it must be timezone-aware), else the process clock."""
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("`now` must be timezone-aware")
        return now
    if _ACCELERATION is None:
        return datetime.now(UTC)
    speed, epoch = _ACCELERATION
    simulated = epoch + (time.time() - epoch) * speed
    return datetime.fromtimestamp(simulated, UTC)


def work_span(seconds: float) -> timedelta:
    """A span of real time (how long work may take, e.g. a lease) on the process clock.

    With an accelerated clock a lease must still cover the real seconds the work takes, or
    a second worker would take over work that is merely in progress.
    """
    speed = _ACCELERATION[0] if _ACCELERATION else 1.0
    return timedelta(seconds=seconds * speed)
