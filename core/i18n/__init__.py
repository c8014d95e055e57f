"""The message catalogues (gettext, English and বাংলা) and formatting for the reader.

Every sentence a person reads is a msgid in the code, marked with `_`/`N_`/`ngettext` so
Babel's extractor finds it (`babel.cfg`, see the README), and translated in
`locales/bn/LC_MESSAGES/messages.po`. English is the source language: its catalogue adds
nothing but the plural rule. The `.po` files are compiled in memory the first time a
language is used, so there is no build step and no `.mo` to forget.

`Texts` is one reader's view of the catalogues: their language, with dates, numbers and
day counts formatted for it (Bengali digits and month names in `bn`) in the tenant's zone.
The bot's aiogram I18n reads the same compiled catalogues (`bot/i18n.py`).
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_date
from babel.dates import get_day_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.db.enums import Language

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = Language.en

BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
DATE_FORMATS = {Language.en: "dd MMM y", Language.bn: "d MMMM y"}


def N_(message: str) -> str:
    """Mark a msgid for extraction where it is defined; translate it where it is shown."""
    return message


def po_path(language: Language | str) -> Path:
    return LOCALES_DIR / str(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def catalogue(language: Language | str) -> gettext.GNUTranslations:
    """The compiled catalogue of `language` (compiled from its `.po` once per process)."""
    with po_path(language).open("rb") as source:
        parsed = read_po(source, locale=str(language), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, parsed, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def parse_language(value: str | None) -> Language | None:
    """A supported language from a stored choice or a client's code (`bn-BD` → bn); else None."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    try:
        return Language(primary)
    except ValueError:
        return None


def choose_language(
    chosen: str | None, client: str | None, tenant: str | None, default: str
) -> Language:
    """SPEC §8: the person's own choice, else their Telegram client's, else the tenant's."""
    for candidate in (chosen, client, tenant, default):
        found = parse_language(candidate)
        if found is not None:
            return found
    return SOURCE_LANGUAGE


@dataclass(frozen=True)
class Texts:
    """One reader's language: translations and formatting, for any surface or channel."""

    language: Language

    def gettext(self, message: str) -> str:
        return catalogue(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return catalogue(self.language).ngettext(singular, plural, count)

    def digits(self, text: str) -> str:
        return text.translate(BENGALI_DIGITS) if self.language is Language.bn else text

    def number(self, value: int) -> str:
        return self.digits(f"{value:,}" if self.language is Language.en else str(value))

    def size(self, size: int) -> str:
        """Bytes for people: `512 bytes`, `1.5 MiB` (binary units, as Telegram's limits are)."""
        if size < 1024:
            return self.ngettext("{count} byte", "{count} bytes", size).format(
                count=self.number(size)
            )
        value = float(size)
        for unit in ("KiB", "MiB", "GiB"):
            value /= 1024
            if value < 1024 or unit == "GiB":
                break
        return self.digits(f"{value:.1f} {unit}")

    def date(self, day: dt.date) -> str:
        return self.digits(babel_date(day, DATE_FORMATS[self.language], locale=self.language))

    def month(self, day: dt.date) -> str:
        """`December 2026`, `ডিসেম্বর ২০২৬`."""
        return self.digits(babel_date(day, "LLLL y", locale=self.language))

    def weekdays(self) -> list[str]:
        """Monday to Sunday, abbreviated, in this language."""
        names = get_day_names("abbreviated", context="stand-alone", locale=self.language)
        return [str(names[day]) for day in range(7)]

    def moment(self, moment: dt.datetime | None, timezone: str) -> str:
        """A point in time as the tenant's wall clock: date and 24-hour time."""
        if moment is None:
            return self.gettext("never")
        local = moment.astimezone(ZoneInfo(timezone))
        return self.gettext("{date} at {time}").format(
            date=self.date(local.date()), time=self.digits(f"{local:%H:%M}")
        )

    def days_left(self, days: int) -> str:
        """`due in 3 days`, `due today`, `overdue by 2 days`, in this language."""
        if days < 0:
            return self.ngettext("overdue by {count} day", "overdue by {count} days", -days).format(
                count=self.number(-days)
            )
        if days == 0:
            return self.gettext("due today")
        return self.ngettext("due in {count} day", "due in {count} days", days).format(
            count=self.number(days)
        )


@functools.cache
def texts_for(language: Language | str) -> Texts:
    return Texts(parse_language(str(language)) or SOURCE_LANGUAGE)
