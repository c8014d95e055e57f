"""Due dates computed from the anchor: month ends, leap days, quarter boundaries."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import ErrorCode, ValidationError
from core.i18n import N_
from core.obligations.recurrence import (
    Recurrence,
    first_occurrence_after,
    occurrence,
    occurrences_between,
)
from core.parsing import parse_enum


def test_month_end_anchor_clips_and_returns_to_the_31st() -> None:
    series = [occurrence(date(2025, 1, 31), Recurrence.monthly, i) for i in range(4)]
    assert series == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]


def test_leap_year_february_gets_the_29th() -> None:
    assert occurrence(date(2024, 1, 31), Recurrence.monthly, 1) == date(2024, 2, 29)
    assert occurrence(date(2024, 1, 30), Recurrence.monthly, 1) == date(2024, 2, 29)
    assert occurrence(date(2024, 1, 29), Recurrence.monthly, 1) == date(2024, 2, 29)
    assert occurrence(date(2024, 1, 28), Recurrence.monthly, 1) == date(2024, 2, 28)


def test_leap_day_anchor_annual_falls_on_28th_then_back_on_29th() -> None:
    series = [occurrence(date(2024, 2, 29), Recurrence.annual, i) for i in range(5)]
    assert series == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_quarter_boundaries_from_a_month_end() -> None:
    series = [occurrence(date(2025, 11, 30), Recurrence.quarterly, i) for i in range(5)]
    assert series == [
        date(2025, 11, 30),
        date(2026, 2, 28),
        date(2026, 5, 30),
        date(2026, 8, 30),
        date(2026, 11, 30),
    ]
    ends = [occurrence(date(2025, 3, 31), Recurrence.quarterly, i) for i in range(4)]
    assert ends == [date(2025, 3, 31), date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31)]


def test_semiannual_crosses_the_year() -> None:
    series = [occurrence(date(2025, 8, 31), Recurrence.semiannual, i) for i in range(3)]
    assert series == [date(2025, 8, 31), date(2026, 2, 28), date(2026, 8, 31)]


def test_one_off_has_one_date() -> None:
    assert occurrences_between(
        date(2025, 5, 1), Recurrence.none, date(2025, 1, 1), date(2026, 1, 1)
    ) == [date(2025, 5, 1)]
    assert first_occurrence_after(date(2025, 5, 1), Recurrence.none, date(2025, 5, 1)) is None
    with pytest.raises(ValueError, match="single occurrence"):
        occurrence(date(2025, 5, 1), Recurrence.none, 1)


def test_window_and_skip_ahead_agree_with_walking_from_the_anchor() -> None:
    anchor = date(2019, 1, 31)
    walked = [occurrence(anchor, Recurrence.monthly, i) for i in range(120)]
    start, end = date(2024, 2, 1), date(2024, 12, 31)
    assert occurrences_between(anchor, Recurrence.monthly, start, end) == [
        day for day in walked if start <= day <= end
    ]
    assert first_occurrence_after(anchor, Recurrence.monthly, date(2024, 2, 29)) == date(
        2024, 3, 31
    )
    assert first_occurrence_after(anchor, Recurrence.monthly, date(2024, 2, 28)) == date(
        2024, 2, 29
    )
    assert occurrences_between(anchor, Recurrence.monthly, end, start) == []


def test_a_recurrence_is_parsed_and_refused_with_the_choices() -> None:
    assert parse_enum(Recurrence, " Monthly ", N_("recurrence")) is Recurrence.monthly
    with pytest.raises(ValidationError, match="none, monthly, quarterly, semiannual, annual") as no:
        parse_enum(Recurrence, "weekly", N_("recurrence"))
    assert no.value.code is ErrorCode.value_unknown
    assert no.value.message == (
        "Unknown recurrence “weekly”: choose one of none, monthly, quarterly, semiannual, annual."
    )
