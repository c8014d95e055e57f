"""When a recurring obligation falls due: each occurrence computed from the series' anchor.

A recurrence is one of the five kinds (`none`, `monthly`, `quarterly`, `semiannual`,
`annual`) or `every:N` for every N days; it is stored and typed in that one text form.

Counting from the anchor rather than from the previous due date keeps month ends stable:
a series anchored on 31 January falls on 28 (or 29) February and back on 31 March, where
stepping from February's date would drift to the 28th for ever after. PostgreSQL's
`date + interval 'N months'` clips the same way, which is what lets generation run as one
statement (`core.obligations.generation`) and agree with these functions.

Dates a person gives are kept within `EARLIEST_DUE`..`LATEST_DUE`: a year 1 or 9999 is a
typo, and a series must be able to step past its last date without leaving the calendar.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar

from dateutil.relativedelta import relativedelta

from core.errors import ErrorCode, ValidationError

KINDS = ("none", "monthly", "quarterly", "semiannual", "annual")
MONTHS_BETWEEN: dict[str, int] = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}
EVERY_PREFIX = "every:"
MAX_EVERY_DAYS = 3660
EVERY = re.compile(r"^every\s*[:=]?\s*(\d+)(?:\s*days?)?$")
EARLIEST_DUE = date(2000, 1, 1)
LATEST_DUE = date(2099, 12, 31)
ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
DAY_FIRST_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


@dataclass(frozen=True)
class Recurrence:
    """A validated recurrence in its stored form (`monthly`, `every:45`)."""

    value: str
    none: ClassVar[Recurrence]
    monthly: ClassVar[Recurrence]
    quarterly: ClassVar[Recurrence]
    semiannual: ClassVar[Recurrence]
    annual: ClassVar[Recurrence]

    def __post_init__(self) -> None:
        if self.value in KINDS:
            return
        days = self.value.removeprefix(EVERY_PREFIX)
        if not (
            self.value.startswith(EVERY_PREFIX)
            and days.isdigit()
            and str(int(days)) == days
            and 1 <= int(days) <= MAX_EVERY_DAYS
        ):
            raise ValueError(f"not a recurrence: {self.value!r}")

    def __str__(self) -> str:
        return self.value

    @classmethod
    def every(cls, days: int) -> Recurrence:
        return cls(f"{EVERY_PREFIX}{days}")

    @property
    def months(self) -> int | None:
        """Months between occurrences (None for one-offs and day cadences)."""
        return MONTHS_BETWEEN.get(self.value)

    @property
    def days(self) -> int | None:
        """Days between occurrences of an `every:N` recurrence, else None."""
        if self.value.startswith(EVERY_PREFIX):
            return int(self.value.removeprefix(EVERY_PREFIX))
        return None

    @property
    def recurring(self) -> bool:
        return self.value != "none"


Recurrence.none = Recurrence("none")
Recurrence.monthly = Recurrence("monthly")
Recurrence.quarterly = Recurrence("quarterly")
Recurrence.semiannual = Recurrence("semiannual")
Recurrence.annual = Recurrence("annual")


def parse_recurrence(value: str | None) -> Recurrence:
    """A recurrence as people type it: a kind in any case, or `every:N` / `every 30 days`.

    Empty means a one-off. A day count of 0, above `MAX_EVERY_DAYS`, or anything else is
    refused with the choices.
    """
    cleaned = " ".join((value or "").strip().lower().split()) or "none"
    if cleaned in KINDS:
        return Recurrence(cleaned)
    match = EVERY.fullmatch(cleaned)
    if match is not None:
        days = int(match.group(1)) if len(match.group(1)) <= 6 else MAX_EVERY_DAYS + 1
        if not 1 <= days <= MAX_EVERY_DAYS:
            raise ValidationError(
                ErrorCode.recurrence_days_out_of_range, value=value or "", limit=MAX_EVERY_DAYS
            )
        return Recurrence.every(days)
    raise ValidationError(
        ErrorCode.recurrence_unknown, value=(value or "").strip(), choices=", ".join(KINDS)
    )


def check_due_date(day: date) -> date:
    """A due or anchor date inside the calendar Intrex keeps (else a specific refusal)."""
    if not EARLIEST_DUE <= day <= LATEST_DUE:
        raise ValidationError(
            ErrorCode.due_date_out_of_range,
            value=day.isoformat(),
            earliest=EARLIEST_DUE.isoformat(),
            latest=LATEST_DUE.isoformat(),
        )
    return day


def parse_due_date(value: str) -> date:
    """A date as people write it, `2026-06-30` or day first as in Bangladesh, `30/06/2026`
    (in Latin or Bengali digits), inside the calendar Intrex keeps.

    A text of neither form, a day that does not exist (`2026-02-30`) and a date outside
    `EARLIEST_DUE`..`LATEST_DUE` are each refused with their own reason.
    """
    cleaned = value.strip()
    iso = ISO_DATE.fullmatch(cleaned)
    if iso is not None:
        year, month, day = iso.groups()
    else:
        day_first = DAY_FIRST_DATE.fullmatch(cleaned)
        if day_first is None:
            raise ValidationError(ErrorCode.due_date_format, value=cleaned)
        day, month, year = day_first.groups()
    try:
        parsed = date(int(year), int(month), int(day))
    except ValueError:
        raise ValidationError(ErrorCode.due_date_unreal, value=cleaned) from None
    return check_due_date(parsed)


def occurrence(anchor: date, recurrence: Recurrence, index: int) -> date:
    """The `index`-th due date of the series (0 is the anchor); day clipped to the month's end."""
    if index < 0:
        raise ValueError("occurrence index must not be negative")
    if not recurrence.recurring:
        if index:
            raise ValueError("a one-off obligation has a single occurrence")
        return anchor
    days = recurrence.days
    if days is not None:
        return anchor + timedelta(days=days * index)
    months = recurrence.months
    assert months is not None
    return anchor + relativedelta(months=months * index)


def occurrences(
    anchor: date, recurrence: Recurrence, *, near: date | None = None
) -> Iterator[date]:
    """The due dates of the series in order, up to the end of Python's calendar (one date
    for a one-off).

    With `near`, the walk starts just before that date instead of at the anchor, so that
    an old series does not step through years of past dates; no date >= `near` is skipped.
    """
    if not recurrence.recurring:
        yield anchor
        return
    index = 0
    if near is not None and near > anchor:
        if recurrence.days is not None:
            index = max(0, (near - anchor).days // recurrence.days - 1)
        else:
            assert recurrence.months is not None
            months = (near.year - anchor.year) * 12 + (near.month - anchor.month)
            index = max(0, months // recurrence.months - 1)
    while True:
        try:
            yield occurrence(anchor, recurrence, index)
        except (OverflowError, ValueError):
            return
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
