"""Which branches a template applies to.

A jurisdiction names a country and optionally a region, district and city corporation.
It covers a branch when the branch has the jurisdiction's most specific named level and
it matches (case and surrounding spaces ignored), and no broader level the jurisdiction
names contradicts what the branch records (a branch that leaves a broader level blank is
not contradicted). A jurisdiction naming only a country covers every branch: branches
record no country, a tenant operates in one. A template bound to one branch applies to
that branch alone; a template with neither applies to all branches.
"""

from __future__ import annotations

import uuid
from typing import Protocol, TypeVar


class Located(Protocol):
    @property
    def region(self) -> str | None: ...
    @property
    def district(self) -> str | None: ...
    @property
    def city_corporation(self) -> str | None: ...


class BranchLike(Located, Protocol):
    @property
    def id(self) -> uuid.UUID: ...


B = TypeVar("B", bound=BranchLike)

LEVELS = ("region", "district", "city_corporation")
"""Broadest first."""


def _normal(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split()).casefold()
    return cleaned or None


def jurisdiction_covers(jurisdiction: Located, branch: Located) -> bool:
    named = [
        (level, _normal(getattr(jurisdiction, level)))
        for level in LEVELS
        if _normal(getattr(jurisdiction, level)) is not None
    ]
    if not named:
        return True
    *broader, (specific_level, specific_value) = named
    if _normal(getattr(branch, specific_level)) != specific_value:
        return False
    for level, value in broader:
        recorded = _normal(getattr(branch, level))
        if recorded is not None and recorded != value:
            return False
    return True


def applicable_branches(
    branches: list[B], *, branch_id: uuid.UUID | None, jurisdiction: Located | None
) -> list[B]:
    """The branches a template with this binding and jurisdiction applies to."""
    if branch_id is not None:
        return [branch for branch in branches if branch.id == branch_id]
    if jurisdiction is None:
        return list(branches)
    return [branch for branch in branches if jurisdiction_covers(jurisdiction, branch)]
