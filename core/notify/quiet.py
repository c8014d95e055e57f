"""Quiet hours: a tenant's local night, when low and medium alerts wait for morning."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def quiet_until(
    now: datetime, timezone: str, start: time | None, end: time | None
) -> datetime | None:
    """When `now` falls in the local window [start, end), the moment it ends; else None.

    The window may cross midnight (22:00-07:00). Equal start and end means no window.
    """
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    crosses_midnight = start > end
    inside = (start <= clock or clock < end) if crosses_midnight else (start <= clock < end)
    if not inside:
        return None
    end_day = local.date()
    if crosses_midnight and clock >= start:
        end_day += timedelta(days=1)
    wake = datetime.combine(end_day, end, tzinfo=zone)
    return wake.astimezone(now.tzinfo)
