"""Due dates computed from the anchor: month ends, leap days, quarter boundaries."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import ErrorCode, ValidationError
from core.obligations.recurrence import (
    Recurrence,
    first_occurrence_after,
    occurrence,
    occurrences,
    occurrences_between,
    parse_recurrence,
)


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
    assert parse_recurrence(" Monthly ") == Recurrence.monthly
    assert parse_recurrence("") == Recurrence.none
    assert parse_recurrence("every:30") == Recurrence.every(30)
    assert parse_recurrence("Every 45 days").days == 45
    with pytest.raises(ValidationError, match="none, monthly, quarterly, semiannual, annual") as no:
        parse_recurrence("weekly")
    assert no.value.code is ErrorCode.recurrence_unknown
    assert no.value.message == (
        "“weekly” is not a recurrence. Use one of: none, monthly, quarterly, semiannual, "
        "annual, or every:N for every N days."
    )
    for overflowing in ("every:0", "every:3661", "every:99999999999999999999"):
        with pytest.raises(ValidationError) as big:
            parse_recurrence(overflowing)
        assert big.value.code is ErrorCode.recurrence_days_out_of_range


def test_series_stop_at_the_end_of_the_calendar() -> None:
    last = list(occurrences(date(9999, 6, 30), Recurrence.monthly))
    assert last[-1] == date(9999, 12, 30)
    assert (
        first_occurrence_after(date(9999, 12, 1), Recurrence.every(60), date(9999, 12, 1)) is None
    )
