"""The message catalogues as plain data, for the tests that read them."""

from __future__ import annotations

from dataclasses import dataclass

from babel.messages.pofile import read_po

from core.db.enums import Language
from core.i18n import po_path


@dataclass(frozen=True)
class Entry:
    ids: tuple[str, ...]
    """The msgid, and the plural msgid when there is one."""
    strings: tuple[str, ...]
    """The translation, one per plural form."""
    fuzzy: bool

    @property
    def msgid(self) -> str:
        return self.ids[0]


def entries(language: Language) -> list[Entry]:
    with po_path(language).open("rb") as source:
        parsed = read_po(source)
    found = []
    for message in parsed:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        found.append(
            Entry(
                tuple(str(part) for part in ids),
                tuple(str(part or "") for part in strings),
                bool(message.fuzzy),
            )
        )
    return found
