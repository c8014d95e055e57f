"""Fill Bengali translations into the catalogue from a JSON map {msgid: msgstr or [forms]}.

    .venv/bin/python tools/translate.py translations.json

Babel reads and writes the file, so only the given entries change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOGUE = Path(__file__).resolve().parents[1] / "core/i18n/locales/bn/LC_MESSAGES/messages.po"


def main() -> None:
    wanted = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source)
    for message in catalogue:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key in wanted:
            value = wanted.pop(key)
            message.string = tuple(value) if isinstance(value, list) else value
    if wanted:
        raise SystemExit(f"not in the catalogue: {sorted(wanted)}")
    with CATALOGUE.open("wb") as target:
        write_po(target, catalogue, width=76, omit_header=False, sort_output=True)


if __name__ == "__main__":
    main()
