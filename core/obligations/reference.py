"""The built-in reference jurisdictions (Bangladesh's country, divisions, districts and city
corporations), how they are loaded, listed and named.

The data ships in the package (`data/jurisdictions_bd.json`) and `intrex migrate` loads it
on the owner's connection right after the schema upgrade: the table is global, the runtime
roles may only read it. Every row is matched by its stable `code`, so loading again changes
nothing, and a corrected spelling in a later release updates the row in place (templates
keep pointing at it).

Codes, which never change once shipped (a renamed place keeps its code):

- `BD`: the country;
- `BD-XXX`: a division, three letters (`BD-DHA` Dhaka, `BD-CTG` Chattogram, `BD-BAR`
  Barishal, `BD-KHU` Khulna, `BD-MYM` Mymensingh, `BD-RAJ` Rajshahi, `BD-RNG` Rangpur,
  `BD-SYL` Sylhet);
- `BD-XXX-NAME`: a district, its division's code and its English name in capitals, words
  joined by dashes, other signs dropped (`BD-DHA-GAZIPUR`, `BD-CTG-COXS-BAZAR`,
  `BD-RAJ-CHAPAI-NAWABGANJ`);
- `BD-XCC`: a city corporation, its usual abbreviation (`BD-DNCC` Dhaka North, `BD-DSCC`
  Dhaka South, `BD-CUCC` Cumilla, `BD-RPCC` Rangpur …).

Labels say the level (`Dhaka Division` / `ঢাকা বিভাগ`, `Dhaka District` / `ঢাকা জেলা`;
a city corporation's name says it already), so no two reference rows share a label; the
place columns hold the bare names branches record (`region` Dhaka, `district` Dhaka,
`city_corporation` Dhaka North City Corporation). Bengali text is stored in NFC.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.errors import ErrorCode, NotFoundError, ValidationError
from core.i18n import N_
from core.obligations.models import Jurisdiction

COUNTRY = "country"
DIVISION = "division"
DISTRICT = "district"
CITY_CORPORATION = "city_corporation"
REFERENCE_FILES = ("jurisdictions_bd.json",)
BRANCH_COUNTRY = "BD"
"""The country whose reference data checks branch places (a tenant operates in one)."""
CITY_CORPORATION_WORDS = ("city corporation", "সিটি কর্পোরেশন")
MAX_SUGGESTIONS = 3


def normal_name(value: str) -> str:
    """A place name as compared: NFC, case folded, runs of spaces as one, trimmed."""
    return " ".join(unicodedata.normalize("NFC", value).casefold().split())


@dataclass(frozen=True)
class ReferenceRow:
    """One row of the built-in data, as the loader writes it."""

    code: str
    level: str
    country_code: str
    label: str
    label_bn: str
    region: str | None = None
    district: str | None = None
    city_corporation: str | None = None


def _rows_of(data: dict[str, Any]) -> list[ReferenceRow]:
    country = data["country"]
    country_code = country["code"]
    rows = [
        ReferenceRow(
            code=country_code,
            level=COUNTRY,
            country_code=country_code,
            label=country["name"],
            label_bn=country["name_bn"],
        )
    ]
    for division in data["divisions"]:
        region = division["name"]
        rows.append(
            ReferenceRow(
                code=division["code"],
                level=DIVISION,
                country_code=country_code,
                label=f"{region} Division",
                label_bn=f"{division['name_bn']} বিভাগ",
                region=region,
            )
        )
        for district in division["districts"]:
            rows.append(
                ReferenceRow(
                    code=district["code"],
                    level=DISTRICT,
                    country_code=country_code,
                    label=f"{district['name']} District",
                    label_bn=f"{district['name_bn']} জেলা",
                    region=region,
                    district=district["name"],
                )
            )
            rows.extend(
                ReferenceRow(
                    code=corporation["code"],
                    level=CITY_CORPORATION,
                    country_code=country_code,
                    label=corporation["name"],
                    label_bn=corporation["name_bn"],
                    region=region,
                    district=district["name"],
                    city_corporation=corporation["name"],
                )
                for corporation in district.get("city_corporations", ())
            )
    return rows


@cache
def reference_rows() -> tuple[ReferenceRow, ...]:
    """Every built-in row, from the data files in the package (read once per process)."""
    rows: list[ReferenceRow] = []
    for name in REFERENCE_FILES:
        source = resources.files("core.obligations").joinpath("data", name)
        rows.extend(_rows_of(json.loads(source.read_text(encoding="utf-8"))))
    return tuple(
        ReferenceRow(
            **{
                key: unicodedata.normalize("NFC", value) if isinstance(value, str) else value
                for key, value in vars(row).items()
            }
        )
        for row in rows
    )


_UPSERT = text(
    """
    INSERT INTO jurisdictions
        (code, level, country_code, region, district, city_corporation, label, label_bn)
    VALUES
        (:code, :level, :country_code, :region, :district, :city_corporation, :label, :label_bn)
    ON CONFLICT (code) DO UPDATE SET
        level = EXCLUDED.level,
        country_code = EXCLUDED.country_code,
        region = EXCLUDED.region,
        district = EXCLUDED.district,
        city_corporation = EXCLUDED.city_corporation,
        label = EXCLUDED.label,
        label_bn = EXCLUDED.label_bn
    WHERE (jurisdictions.level, jurisdictions.country_code, jurisdictions.region,
           jurisdictions.district, jurisdictions.city_corporation, jurisdictions.label,
           jurisdictions.label_bn)
        IS DISTINCT FROM
          (EXCLUDED.level, EXCLUDED.country_code, EXCLUDED.region, EXCLUDED.district,
           EXCLUDED.city_corporation, EXCLUDED.label, EXCLUDED.label_bn)
    RETURNING id
    """
)


async def load_reference_jurisdictions(conn: AsyncConnection) -> int:
    """Insert or correct every built-in jurisdiction; the number of rows it changed.

    Runs on the migrating (owner) connection, inside its transaction: the caller commits.
    A row already as the data says is left alone (not even rewritten), so a second run
    returns 0.
    """
    changed = 0
    for row in reference_rows():
        result = await conn.execute(_UPSERT, vars(row))
        changed += len(result.fetchall())
    return changed


def _normal_sql(column: Any) -> Any:
    return func.lower(func.regexp_replace(func.btrim(column), r"\s+", " ", "g"))


async def find_jurisdiction(session: AsyncSession, reference: str) -> Jurisdiction:
    """The jurisdiction `reference` names: its id, its code (`BD`, `bd-dha-gazipur`) or its
    English or Bengali label (case and spaces ignored: `dhaka  north city corporation`).

    A built-in row wins over one someone added with the same label. Failing those, a place's
    bare name as branches record it (`Gazipur`, `Dhaka North`, `গাজীপুর`) names the one
    reference row it fits; a name of two levels (`Dhaka`: the division and the district) is
    refused with the labels to choose from.
    """
    cleaned = " ".join(reference.split())
    if not cleaned:
        raise NotFoundError(ErrorCode.jurisdiction_not_found, value=reference)
    try:
        by_id = uuid.UUID(cleaned)
    except ValueError:
        by_id = None
    if by_id is not None:
        found = await session.get(Jurisdiction, by_id)
        if found is None:
            raise NotFoundError(ErrorCode.jurisdiction_not_found, value=reference)
        return found
    needle = normal_name(cleaned)
    jurisdiction = await session.scalar(
        select(Jurisdiction)
        .where(
            or_(
                func.upper(Jurisdiction.code) == cleaned.upper(),
                _normal_sql(Jurisdiction.label) == needle,
                _normal_sql(Jurisdiction.label_bn) == needle,
            )
        )
        .order_by(
            (func.upper(Jurisdiction.code) == cleaned.upper()).desc().nulls_last(),
            Jurisdiction.code.is_(None),
            Jurisdiction.label,
        )
        .limit(1)
    )
    if jurisdiction is not None:
        return jurisdiction
    named = (await place_index(session)).named(cleaned)
    if len(named) > 1:
        raise NotFoundError(
            ErrorCode.jurisdiction_ambiguous,
            value=cleaned,
            choices=", ".join(row.label for row in named),
        )
    if not named:
        raise NotFoundError(ErrorCode.jurisdiction_not_found, value=reference)
    return named[0]


def _depth() -> Any:
    """How specific a row is, from the places it names (rows someone added have no level)."""
    return case(
        (Jurisdiction.city_corporation.is_not(None), 3),
        (Jurisdiction.district.is_not(None), 2),
        (Jurisdiction.region.is_not(None), 1),
        else_=0,
    )


async def list_jurisdictions(session: AsyncSession, country: str | None) -> list[Jurisdiction]:
    """Every jurisdiction (of `country`, a two-letter code, when given): countries first,
    then divisions, districts and city corporations, each level by division, district and
    name."""
    query = select(Jurisdiction).order_by(
        Jurisdiction.country_code,
        _depth(),
        Jurisdiction.region.nulls_first(),
        Jurisdiction.district.nulls_first(),
        Jurisdiction.city_corporation.nulls_first(),
        Jurisdiction.label,
    )
    if country is not None and country.strip():
        query = query.where(Jurisdiction.country_code == country.strip().upper())
    return list(await session.scalars(query))


@dataclass(frozen=True)
class Places:
    """Where a branch is, in the canonical English names branches store."""

    region: str | None = None
    district: str | None = None
    city_corporation: str | None = None


@dataclass
class _Level:
    """The places of one level: every accepted spelling, and the spellings hints are
    found among (each pointing at the name the hint shows)."""

    what: str
    by_name: dict[str, Jurisdiction] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)

    def add(self, row: Jurisdiction, names: Iterable[str | None], hints: dict[str, str]) -> None:
        for name in names:
            if name:
                self.by_name.setdefault(normal_name(name), row)
        for spelling, shown in hints.items():
            self.hints.setdefault(normal_name(spelling), shown)

    def find(self, value: str) -> Jurisdiction:
        found = self.by_name.get(normal_name(value))
        if found is not None:
            return found
        cleaned = " ".join(value.split())
        nearest = difflib.get_close_matches(normal_name(value), list(self.hints), n=10, cutoff=0.6)
        suggestions = list(dict.fromkeys(self.hints[name] for name in nearest))[:MAX_SUGGESTIONS]
        if not suggestions:
            raise ValidationError(ErrorCode.place_unknown, what=self.what, value=cleaned)
        raise ValidationError(
            ErrorCode.place_unknown_suggested,
            what=self.what,
            value=cleaned,
            suggestions=", ".join(suggestions),
        )


def _short_forms(name: str | None) -> list[str]:
    """`Dhaka North` for `Dhaka North City Corporation` (and the same in Bengali)."""
    if not name:
        return []
    cut = name.rstrip()
    return [
        cut[: -len(words)].strip()
        for words in CITY_CORPORATION_WORDS
        if normal_name(cut).endswith(words) and len(cut) > len(words)
    ]


class PlaceIndex:
    """The reference divisions, districts and city corporations of one country, by every
    spelling a person may type: the English name in any case and spacing, the label
    (`Dhaka Division`), the Bengali name or label, the code (`BD-DNCC`), and for a city
    corporation also the short form (`Dhaka North`, `ঢাকা উত্তর`) and abbreviation (`DNCC`)."""

    def __init__(self, rows: Iterable[Jurisdiction]) -> None:
        self.levels = {
            DIVISION: _Level(N_("division")),
            DISTRICT: _Level(N_("district")),
            CITY_CORPORATION: _Level(N_("city corporation")),
        }
        for row in rows:
            level = self.levels.get(row.level or "")
            if level is None:
                continue
            name = {
                DIVISION: row.region,
                DISTRICT: row.district,
                CITY_CORPORATION: row.city_corporation,
            }[row.level or ""]
            bengali = row.label_bn
            for suffix in (" বিভাগ", " জেলা"):
                if bengali and row.level != CITY_CORPORATION and bengali.endswith(suffix):
                    bengali = bengali[: -len(suffix)]
            hints = {spelling: spelling for spelling in (name, bengali) if spelling}
            if row.level == CITY_CORPORATION:
                hints |= {short: name for short in _short_forms(name) if name}
                hints |= {short: bengali for short in _short_forms(bengali) if bengali}
            names = [*hints, row.label, row.label_bn, row.code]
            if row.level == CITY_CORPORATION and row.code and "-" in row.code:
                names.append(row.code.split("-", 1)[1])
            level.add(row, names, hints)

    def named(self, value: str) -> list[Jurisdiction]:
        """The rows of every level that `value` names, broadest first."""
        needle = normal_name(value)
        found = (level.by_name.get(needle) for level in self.levels.values())
        return [row for row in found if row is not None]

    def __bool__(self) -> bool:
        return any(level.by_name for level in self.levels.values())

    def resolve(
        self, region: str | None, district: str | None, city_corporation: str | None
    ) -> Places:
        """The places named, checked against each other and completed upwards.

        Each given value must name a known place of its level; a district must lie in
        the division given, a city corporation in the district and division given; a
        level left out is filled from a narrower one (a city corporation implies its
        district and division). Refusals name the level, the value and the nearest names.
        """
        division_row = self.levels[DIVISION].find(region) if region else None
        district_row = self.levels[DISTRICT].find(district) if district else None
        corporation_row = (
            self.levels[CITY_CORPORATION].find(city_corporation) if city_corporation else None
        )
        if corporation_row is not None and district_row is not None:
            if corporation_row.district != district_row.district:
                raise ValidationError(
                    ErrorCode.city_corporation_not_in_district,
                    city_corporation=corporation_row.city_corporation,
                    district=district_row.district,
                )
        elif (
            corporation_row is not None
            and division_row is not None
            and corporation_row.region != division_row.region
        ):
            raise ValidationError(
                ErrorCode.city_corporation_not_in_division,
                city_corporation=corporation_row.city_corporation,
                division=division_row.region,
            )
        if (
            district_row is not None
            and division_row is not None
            and district_row.region != division_row.region
        ):
            raise ValidationError(
                ErrorCode.district_not_in_division,
                district=district_row.district,
                division=division_row.region,
            )
        narrowest = corporation_row or district_row or division_row
        if narrowest is None:
            return Places()
        return Places(narrowest.region, narrowest.district, narrowest.city_corporation)


async def place_index(session: AsyncSession, country: str = BRANCH_COUNTRY) -> PlaceIndex:
    """The reference places of `country` as loaded in the database (empty when none are)."""
    rows = await session.scalars(
        select(Jurisdiction).where(
            Jurisdiction.country_code == country,
            Jurisdiction.code.is_not(None),
            Jurisdiction.level.in_((DIVISION, DISTRICT, CITY_CORPORATION)),
        )
    )
    return PlaceIndex(rows)
