"""The catalogue of standard obligations a tenant adopts in one step (SPEC §6).

The entries ship as data (`data/catalogue_<country>.json`: key, category, title and
description in English and Bengali, recurrence, lead, grace, severity and an anchor rule).
Adopting copies an entry into the tenant as an ordinary template, which the tenant then
edits like any other (`core.obligations.templates.update_template`); the copy remembers
its `catalogue_key`, so adopting again adds nothing.

Reminders: an entry's `lead` overrides the first step of the default cadence
30, 14, 7, 3, 1, 0 days, and the steps not shorter than it are dropped: lead 45 reminds
at 45, 14, 7, 3, 1 and 0 days, lead 7 at 7, 3, 1 and 0.

Anchors (the first due date of the copy), by rule:
- `yearly` (`month`, `day`): the first such day on or after adoption (the trade licence's
  30 June, the end of the July–June fiscal year; the company tax day, 15 January);
- `monthly` (`day`): the first such day of a month on or after adoption (the VAT return,
  due the 15th of the month after the tax period);
- `after_adoption` (`months`): that many months after adoption. A licence or certificate
  falls due on the anniversary of its own issue, which only the tenant knows: the tenant
  sets the real date with `intrex template update --anchor`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import ObligationCategory, Severity
from core.errors import ErrorCode, NotFoundError, ValidationError
from core.obligations.models import DEFAULT_REMINDER_LEAD_DAYS, ObligationTemplate
from core.obligations.recurrence import Recurrence
from core.obligations.reference import find_jurisdiction
from core.obligations.templates import (
    TemplateSpec,
    TemplateView,
    create_template,
    refuse_unless_admin,
)
from core.tenancy.scope import Actor

COUNTRIES = ("BD",)
CLOSE_KEYS = 5


def lead_days_for(
    lead: int, cadence: tuple[int, ...] = DEFAULT_REMINDER_LEAD_DAYS
) -> tuple[int, ...]:
    """The default cadence with its first step replaced by `lead` (shorter steps kept)."""
    return (lead, *(days for days in cadence[1:] if days < lead))


@dataclass(frozen=True)
class AnchorRule:
    rule: str
    month: int | None = None
    day: int | None = None
    months: int | None = None

    def first_due(self, adopted_on: date) -> date:
        """The copy's anchor for a tenant adopting on `adopted_on` (see the module)."""
        if self.rule == "after_adoption":
            assert self.months is not None
            return adopted_on + relativedelta(months=self.months)
        assert self.day is not None
        if self.rule == "monthly":
            candidate = adopted_on + relativedelta(day=self.day)
            return candidate if candidate >= adopted_on else candidate + relativedelta(months=1)
        if self.rule == "yearly":
            assert self.month is not None
            candidate = adopted_on + relativedelta(month=self.month, day=self.day)
            return candidate if candidate >= adopted_on else candidate + relativedelta(years=1)
        raise ValueError(f"unknown anchor rule {self.rule!r}")


@dataclass(frozen=True)
class CatalogueEntry:
    """One standard obligation, in both languages."""

    key: str
    category: ObligationCategory
    title_en: str
    title_bn: str
    description_en: str
    description_bn: str
    authority_en: str
    authority_bn: str
    recurrence: Recurrence
    lead: int
    grace_days: int
    severity: Severity
    anchor: AnchorRule

    @property
    def lead_days(self) -> tuple[int, ...]:
        return lead_days_for(self.lead)

    def title(self, language: str | None) -> str:
        return self.title_bn if language == "bn" else self.title_en

    def description(self, language: str | None) -> str:
        return self.description_bn if language == "bn" else self.description_en

    def authority(self, language: str | None) -> str:
        return self.authority_bn if language == "bn" else self.authority_en

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "category": self.category.value,
            "title": {"en": self.title_en, "bn": self.title_bn},
            "description": {"en": self.description_en, "bn": self.description_bn},
            "authority": {"en": self.authority_en, "bn": self.authority_bn},
            "recurrence": str(self.recurrence),
            "lead": self.lead,
            "lead_days": list(self.lead_days),
            "grace_days": self.grace_days,
            "severity": self.severity.value,
            "anchor": {key: value for key, value in vars(self.anchor).items() if value is not None},
        }


def _entry(data: dict[str, Any]) -> CatalogueEntry:
    return CatalogueEntry(
        key=data["key"],
        category=ObligationCategory(data["category"]),
        title_en=data["title"]["en"],
        title_bn=data["title"]["bn"],
        description_en=data["description"]["en"],
        description_bn=data["description"]["bn"],
        authority_en=data["authority"]["en"],
        authority_bn=data["authority"]["bn"],
        recurrence=Recurrence(data["recurrence"]),
        lead=int(data["lead"]),
        grace_days=int(data["grace"]),
        severity=Severity(data["severity"]),
        anchor=AnchorRule(**data["anchor"]),
    )


def _country(country: str) -> str:
    code = country.strip().upper()
    if code not in COUNTRIES:
        raise NotFoundError(ErrorCode.jurisdiction_not_found, value=country.strip())
    return code


@cache
def _load(country: str) -> tuple[CatalogueEntry, ...]:
    source = resources.files("core.obligations").joinpath(
        "data", f"catalogue_{country.lower()}.json"
    )
    data = json.loads(source.read_text(encoding="utf-8"))
    return tuple(_entry(entry) for entry in data["entries"])


def catalogue(country: str = "BD") -> tuple[CatalogueEntry, ...]:
    """The standard obligations of `country`, in the data file's order."""
    return _load(_country(country))


def entry_for(key: str, country: str = "BD") -> CatalogueEntry:
    """The entry `key` names (any case; the `bd.` prefix may be left out), or a refusal
    naming the closest keys."""
    entries = {entry.key: entry for entry in catalogue(country)}
    prefix = f"{country.strip().lower()}."
    bare = {name.removeprefix(prefix): name for name in entries}
    cleaned = key.strip().lower().removeprefix(prefix)
    if cleaned in bare:
        return entries[bare[cleaned]]
    close = difflib.get_close_matches(cleaned, list(bare), n=CLOSE_KEYS, cutoff=0.5)
    raise ValidationError(
        ErrorCode.catalogue_key_unknown,
        value=key.strip(),
        close=", ".join([bare[name] for name in close] or list(entries)),
    )


@dataclass
class AdoptionReport:
    """What one adoption did: the templates it created and the keys adopted already."""

    adopted: list[TemplateView] = field(default_factory=list)
    already_adopted: list[str] = field(default_factory=list)
    instances_created: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "adopted": [view.as_json() for view in self.adopted],
            "already_adopted": self.already_adopted,
            "instances_created": self.instances_created,
        }


async def adopted_keys(session: AsyncSession, actor: Actor) -> set[str]:
    """The catalogue keys the tenant has a template of (active or not)."""
    refuse_unless_admin(actor)
    found = await session.scalars(
        select(ObligationTemplate.catalogue_key).where(
            ObligationTemplate.catalogue_key.is_not(None)
        )
    )
    return {key for key in found if key is not None}


async def adopt_catalogue(
    session: AsyncSession,
    actor: Actor,
    keys: list[str] | None,
    *,
    jurisdiction: str | None = None,
    country: str = "BD",
) -> AdoptionReport:
    """Copy the entries `keys` names (None: every entry) into the tenant as templates.

    Each applies to the whole country (`BD`: every branch) unless `jurisdiction` (an id,
    code or label) says otherwise, is titled in the tenant's language and generates its
    instances at once. Keys adopted before are reported, not copied again; two adoptions at
    the same moment are serialised by a per-tenant lock, so neither trips over the other.
    """
    refuse_unless_admin(actor)
    wanted = (
        list(catalogue(country))
        if keys is None
        else list(
            {entry.key: entry for entry in (entry_for(key, country) for key in keys)}.values()
        )
    )
    place = await find_jurisdiction(session, jurisdiction or _country(country))
    await session.execute(
        select(
            func.pg_advisory_xact_lock(
                func.hashtextextended(f"intrex:catalogue_adoption:{actor.tenant_id}", 0)
            )
        )
    )
    have = await adopted_keys(session, actor)
    language = actor.tenant_language
    report = AdoptionReport()
    for entry in wanted:
        if entry.key in have:
            report.already_adopted.append(entry.key)
            continue
        result = await create_template(
            session,
            actor,
            TemplateSpec(
                category=entry.category,
                title=entry.title(language),
                recurrence=entry.recurrence,
                severity=entry.severity,
                anchor_date=entry.anchor.first_due(actor.today),
                reminder_lead_days=entry.lead_days,
                jurisdiction_id=place.id,
                description=entry.description(language),
                grace_days=entry.grace_days,
                catalogue_key=entry.key,
            ),
        )
        assert result.view is not None
        report.adopted.append(result.view)
        report.instances_created += result.instances_created
    return report
