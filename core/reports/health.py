"""A branch's health score, 0 to 100: how much trouble its obligations and certificates are in.

Pure: the facts come in (counted in SQL by `core.reports.service`), a number goes out. The
formula is the README's ("Reports and the health score"), term for term:

    penalty = overdue + due soon + certificates

    overdue       each open obligation past its due date costs its severity's weight
                  (critical 8, high 4, medium 2, low 1) × (1 + min(days late, 30) / 30):
                  a critical one a day late costs 8.27, thirty days or more late 16
    due soon      each open obligation due today or in the next 7 days costs 1, at most 10
    certificates  each monitored (not paused) certificate of the branch costs 15 when
                  expired, 10 when its check fails, 5 when it is expiring soon

    score = max(0, 100 - ⌈penalty⌉)

Rounding up means any open problem costs at least one point: only a branch with nothing
overdue, nothing due this week and every certificate valid scores 100. The arithmetic is
exact (integers in thirtieths of a point), so the score never depends on float rounding.
The weights make one critical obligation a month late (16) cost more than a failing
certificate (10), and a pile of small things due this week never more than 10.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from core.db.enums import Severity

SEVERITY_WEIGHTS: Mapping[Severity, int] = {
    Severity.critical: 8,
    Severity.high: 4,
    Severity.medium: 2,
    Severity.low: 1,
}
DAYS_LATE_CAP = 30
"""Days late beyond this add nothing: a year-old item is as alarming as a month-old one."""
DUE_SOON_DAYS = 7
"""Due today or within this many days after today."""
DUE_SOON_CAP = 10
"""The due-soon term never costs more than this many points."""
EXPIRED_COST = 15
FAILING_COST = 10
EXPIRING_COST = 5
FULL_SCORE = 100
GOOD_FROM = 80
FAIR_FROM = 50


class HealthBand(enum.StrEnum):
    """What the score means at a glance (the chart's colours)."""

    good = "good"
    """80 to 100."""
    fair = "fair"
    """50 to 79."""
    poor = "poor"
    """Below 50."""


@dataclass(frozen=True)
class HealthFacts:
    """What a branch's score is computed from, as counted on the tenant's local date."""

    overdue: Mapping[Severity, int] = field(default_factory=dict)
    """Open obligations past their due date, per severity."""
    days_late: Mapping[Severity, int] = field(default_factory=dict)
    """Per severity, the sum over those obligations of their days late, each capped at
    `DAYS_LATE_CAP`."""
    due_soon: int = 0
    """Open obligations due today or in the next `DUE_SOON_DAYS` days."""
    certificates_expired: int = 0
    certificates_failing: int = 0
    """Failing their check for another reason (handshake, DNS, timeout, wrong name)."""
    certificates_expiring: int = 0

    @property
    def overdue_total(self) -> int:
        return sum(self.overdue.values())

    @property
    def certificates_at_risk(self) -> int:
        return self.certificates_expired + self.certificates_failing + self.certificates_expiring


def penalty_thirtieths(facts: HealthFacts) -> int:
    """The points a branch loses, exactly, in thirtieths of a point (the days-late factor's
    denominator is `DAYS_LATE_CAP`), so the whole formula stays in integers."""
    overdue = 0
    for severity, weight in SEVERITY_WEIGHTS.items():
        late = facts.overdue.get(severity, 0)
        if late:
            overdue += weight * (DAYS_LATE_CAP * late + facts.days_late.get(severity, 0))
    points = (
        min(facts.due_soon, DUE_SOON_CAP)
        + EXPIRED_COST * facts.certificates_expired
        + FAILING_COST * facts.certificates_failing
        + EXPIRING_COST * facts.certificates_expiring
    )
    return overdue + DAYS_LATE_CAP * points


def penalty(facts: HealthFacts) -> Fraction:
    """The points a branch loses, exactly (before rounding up)."""
    return Fraction(penalty_thirtieths(facts), DAYS_LATE_CAP)


def health_score(facts: HealthFacts) -> int:
    """`max(0, 100 - ⌈penalty⌉)`: 100 only when nothing is wrong."""
    lost = -(-penalty_thirtieths(facts) // DAYS_LATE_CAP)
    return max(0, FULL_SCORE - lost)


def band(score: int) -> HealthBand:
    if score >= GOOD_FROM:
        return HealthBand.good
    if score >= FAIR_FROM:
        return HealthBand.fair
    return HealthBand.poor
