"""Which branches a template applies to, as one SQL condition generation and previews share.

A jurisdiction names a country and optionally a region (division), district and city
corporation. It covers a branch when the branch has the jurisdiction's most specific named
level and it matches (case and runs of spaces ignored), and no broader level the
jurisdiction names contradicts what the branch records (a branch that leaves a broader
level blank is not contradicted). A jurisdiction naming only a country covers every branch:
branches record no country, a tenant operates in one. A template bound to one branch
applies to that branch alone; a template with neither applies to all branches.
"""

from __future__ import annotations


def _normal(column: str) -> str:
    return f"NULLIF(lower(regexp_replace(btrim({column}), '\\s+', ' ', 'g')), '')"


def _same_or_unsaid(level: str, branch: str, jurisdiction: str) -> str:
    recorded, named = _normal(f"{branch}.{level}"), _normal(f"{jurisdiction}.{level}")
    return f"({recorded} IS NULL OR {named} IS NULL OR {recorded} = {named})"


def covers_sql(template: str = "t", branch: str = "b", jurisdiction: str = "j") -> str:
    """The SQL condition "template `t` applies to branch `b`", with `j` the template's
    jurisdiction left-joined (all NULL when it has none)."""

    def specific(level: str) -> str:
        return f"{_normal(f'{branch}.{level}')} = {_normal(f'{jurisdiction}.{level}')}"

    region, district = (
        _same_or_unsaid("region", branch, jurisdiction),
        _same_or_unsaid("district", branch, jurisdiction),
    )
    by_place = (
        f"CASE WHEN {_normal(f'{jurisdiction}.city_corporation')} IS NOT NULL"
        f" THEN {specific('city_corporation')} AND {district} AND {region}"
        f" WHEN {_normal(f'{jurisdiction}.district')} IS NOT NULL"
        f" THEN {specific('district')} AND {region}"
        f" WHEN {_normal(f'{jurisdiction}.region')} IS NOT NULL THEN {specific('region')}"
        " ELSE true END"
    )
    return (
        f"(CASE WHEN {template}.branch_id IS NOT NULL THEN {branch}.id = {template}.branch_id"
        f" WHEN {jurisdiction}.id IS NULL THEN true ELSE ({by_place}) END)"
    )
