"""When a recurring obligation falls due: each occurrence computed from the series' anchor.

Counting from the anchor rather than from the previous due date keeps month ends stable:
a series anchored on 31 January falls on 28 (or 29) February and back on 31 March, where
stepping from February's date would drift to the 28th for ever after.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import date

from dateutil.relativedelta import relativedelta


class Recurrence(enum.StrEnum):
    none = "none"
    monthly = "monthly"
    quarterly = "quarterly"
    semiannual = "semiannual"
    annual = "annual"


MONTHS_BETWEEN: dict[Recurrence, int] = {
    Recurrence.monthly: 1,
    Recurrence.quarterly: 3,
    Recurrence.semiannual: 6,
    Recurrence.annual: 12,
}


def occurrence(anchor: date, recurrence: Recurrence, index: int) -> date:
    """The `index`-th due date of the series (0 is the anchor); day clipped to the month's end."""
    if index < 0:
        raise ValueError("occurrence index must not be negative")
    if recurrence is Recurrence.none:
        if index:
            raise ValueError("a one-off obligation has a single occurrence")
        return anchor
    return anchor + relativedelta(months=MONTHS_BETWEEN[recurrence] * index)


def occurrences(
    anchor: date, recurrence: Recurrence, *, near: date | None = None
) -> Iterator[date]:
    """The due dates of the series in order, for ever (one date for a one-off).

    With `near`, the walk starts just before that date instead of at the anchor, so that
    an old series does not step through years of past dates; no date >= `near` is skipped.
    """
    if recurrence is Recurrence.none:
        yield anchor
        return
    step = MONTHS_BETWEEN[recurrence]
    index = 0
    if near is not None and near > anchor:
        months = (near.year - anchor.year) * 12 + (near.month - anchor.month)
        index = max(0, months // step - 1)
    while True:
        yield occurrence(anchor, recurrence, index)
        index += 1


def occurrences_between(anchor: date, recurrence: Recurrence, start: date, end: date) -> list[date]:
    """The due dates d of the series with start <= d <= end."""
    if end < start:
        return []
    found: list[date] = []
    for day in occurrences(anchor, recurrence, near=start):
        if day > end:
            break
        if day >= start:
            found.append(day)
    return found


def first_occurrence_after(anchor: date, recurrence: Recurrence, after: date) -> date | None:
    """The first due date strictly after `after`, or None when the series has ended."""
    for day in occurrences(anchor, recurrence, near=after):
        if day > after:
            return day
    return None
