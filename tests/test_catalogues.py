"""The message catalogues are complete and the code speaks only through them.

- Every msgid the code marks (extracted exactly as `tools/update_catalogues.sh` does) is in
  the Bengali catalogue, translated, not fuzzy, with the same `{placeholders}` and HTML tags;
  the catalogue holds nothing the code no longer says.
- No sentence is written in the bot's code outside the catalogues: an English phrase in a
  string literal or f-string that is not a msgid fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.extract import extract_from_dir

from core.db.enums import Language
from core.i18n import texts_for
from tests.catalogue import entries

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+[^>]*>")
PHRASE = re.compile(r"[A-Za-z]{2,}[,.:;!?]?\s+[A-Za-z]{2,}")
CATALOGUE_CALLS = {"_", "N_", "gettext", "ngettext"}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
"""The dashboard's templates, extracted as babel.cfg says."""


def extracted() -> set[str]:
    found: set[str] = set()
    for package in ("core", "bot", "cli", "web"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package,
            method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
            options_map={"templates/**.html": JINJA_OPTIONS},
            keywords=KEYWORDS,
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_msgid_of_the_code_is_in_the_catalogue_and_nothing_else() -> None:
    in_code = extracted()
    in_catalogue = {entry.msgid for entry in entries(Language.bn)}
    missing = sorted(in_code - in_catalogue)
    stale = sorted(in_catalogue - in_code)
    assert not missing, f"run tools/update_catalogues.sh and translate: {missing}"
    assert not stale, f"run tools/update_catalogues.sh (no longer in the code): {stale}"
    assert len(in_code) > 250


def test_every_bengali_entry_is_translated_with_the_same_placeholders_and_tags() -> None:
    faults = []
    for entry in entries(Language.bn):
        msgid, ids, strings = entry.msgid, entry.ids, entry.strings
        if entry.fuzzy:
            faults.append(f"fuzzy: {msgid!r}")
        wanted = set(PLACEHOLDER.findall(" ".join(ids)))
        tags = sorted(TAG.findall(ids[0]))
        for string in strings:
            if not string.strip():
                faults.append(f"empty: {msgid!r}")
            elif set(PLACEHOLDER.findall(string)) != wanted:
                faults.append(f"placeholders differ: {msgid!r} → {string!r}")
            elif sorted(TAG.findall(string)) != tags:
                faults.append(f"tags differ: {msgid!r} → {string!r}")
            elif string == ids[0] and PHRASE.search(string) and "বাংলা" not in string:
                faults.append(f"left in English: {msgid!r}")
    assert not faults, "\n".join(faults)


def test_the_bengali_catalogue_compiles_and_counts_in_bengali() -> None:
    texts = texts_for(Language.bn)
    assert texts.days_left(3) == "৩ দিন বাকি"
    assert texts.gettext("Overdue: {count}") != "Overdue: {count}"
    assert texts_for(Language.en).days_left(1) == "due in 1 day"
    assert texts_for(Language.en).days_left(2) == "due in 2 days"
    assert texts_for(Language.en).days_left(-1) == "overdue by 1 day"


def _catalogue_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return name in CATALOGUE_CALLS


def _exempt(node: ast.AST) -> bool:
    """Words for operators, not for chat users: logging calls and delivery records (a
    receiver's answer kept on the delivery row), and Telegram's own error descriptions that
    an answer is compared with."""
    if isinstance(node, ast.Compare):
        return True
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id == "log"
    return isinstance(func, ast.Name) and func.id == "DeliveryError"


def _sentences(tree: ast.AST) -> Iterator[tuple[int, str]]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if _catalogue_call(node) or _exempt(node):
            skip.update(id(child) for child in ast.walk(node))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value
                for part in node.values
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )
        else:
            continue
        if text.startswith("/") or not PHRASE.search(text):
            continue
        yield node.lineno, text


def test_the_bot_writes_no_sentence_outside_the_catalogues() -> None:
    faults = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted((ROOT / "bot").rglob("*.py"))
        for line, text in _sentences(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not faults, "sentences outside the catalogues:\n" + "\n".join(faults)


def test_the_sentence_check_can_fail() -> None:
    tree = ast.parse('async def f(message):\n    await message.answer(f"Stored {name} for you")\n')
    assert [text for _, text in _sentences(tree)] == ["Stored  for you"]
    assert list(_sentences(ast.parse('x = _("Stored {name} for you")'))) == []
