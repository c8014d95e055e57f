"""The error catalogue is complete, and core raises codes, never sentences.

Every `ErrorCode` needs its sentence in `ERROR_TEXTS` (else a person would read "something
went wrong" for a refusal they could act on). And a refusal raised in core with a sentence
(`raise ValidationError("…")` or an f-string) would reach a Bengali reader in English, so
the source of `core/` is read and any such raise fails here, with its file and line.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from core.errors import ErrorCode
from core.i18n.errors import ERROR_TEXTS

CORE = Path(__file__).resolve().parents[2] / "core"

NOT_REFUSALS = frozenset({"DeliveryError", "ResolutionError"})
"""Core's own exceptions that are not `IntrexError`s: their text is data, not a sentence."""


def test_every_error_code_has_a_text() -> None:
    missing = [code.name for code in ErrorCode if code not in ERROR_TEXTS]
    assert missing == [], f"ErrorCode members without an ERROR_TEXTS entry: {missing}"


def test_every_text_belongs_to_a_code() -> None:
    assert all(isinstance(code, ErrorCode) for code in ERROR_TEXTS)


def _is_core(module: str) -> bool:
    return module == "core" or module.startswith("core.")


def _foreign_names(tree: ast.Module) -> set[str]:
    """Names and modules imported from outside `core` (`ssl`, sqlalchemy's errors, ...)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not _is_core(node.module):
                names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                alias.asname or alias.name.split(".")[0]
                for alias in node.names
                if not _is_core(alias.name)
            )
    return names


def _raised_name(call: ast.Call, foreign: set[str]) -> str | None:
    """The exception class's name; None for one from outside core (`ssl.SSLError`)."""
    if isinstance(call.func, ast.Name):
        return None if call.func.id in foreign else call.func.id
    if isinstance(call.func, ast.Attribute):
        root = call.func.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in foreign:
            return None
        return call.func.attr
    return None


def _is_sentence(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.BinOp) and (_is_sentence(node.left) or _is_sentence(node.right))


def sentence_raises(path: Path, root: Path = CORE.parent) -> list[str]:
    """`file:line Name` for every `raise SomethingError("…")` of a refusal in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    foreign = _foreign_names(tree)
    exempt = NOT_REFUSALS | set(dir(builtins))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
            continue
        name = _raised_name(node.exc, foreign)
        if name is None or not name.endswith("Error") or name in exempt:
            continue
        if node.exc.args and _is_sentence(node.exc.args[0]):
            found.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    return found


def test_the_checker_sees_a_sentence_raise(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import ssl\n"
        "from sqlalchemy.exc import DisconnectionError\n"
        "def f(x):\n"
        "    raise ValidationError(f'{x} is bad')\n"
        "    raise errors.NotFoundError('gone')\n"
        "    raise ValidationError(ErrorCode.text_empty, what='title')\n"
        "    raise ValueError('a programming error')\n"
        "    raise DisconnectionError('a library signal')\n"
        "    raise DeliveryError('HTTP 500', permanent=False)\n"
        "    raise ConfigurationError('a ' + x)\n"
        "    raise ssl.SSLError('no certificate')\n"
    )
    assert sentence_raises(sample, tmp_path) == [
        "sample.py:4 ValidationError",
        "sample.py:5 NotFoundError",
        "sample.py:10 ConfigurationError",
    ]


@pytest.mark.parametrize(
    "path",
    sorted(CORE.rglob("*.py")),
    ids=lambda path: str(path.relative_to(CORE.parent)),
)
def test_core_raises_codes_not_sentences(path: Path) -> None:
    found = sentence_raises(path)
    assert found == [], "raise with an error code and parameters instead:\n" + "\n".join(found)
