"""How every command answers: Rich text for people, one JSON document with `--json`.

A command's work returns a `Reply`; `answer` (or `answer_from_database` and
`answer_for_tenant` in cli.database) runs it, prints it and exits with its code. Checks
a command makes before it opens the database run under `refusals`, like the work itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from rich.console import Console, RenderableType

from core.errors import IntrexError

console = Console()
error_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one machine-readable JSON document.")


class Refused(Exception):
    """A refusal the command line makes itself (a file it cannot read), already in English.

    Core's refusals are `IntrexError`s: a code and its parameters, worded by the catalogue.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Reply:
    """A command's answer: `data` with `--json`, `human` otherwise, then exit status `code`.

    Without `data` nothing more is printed: the command wrote its answer as it went.
    """

    data: dict[str, Any] | None = None
    human: RenderableType = ""
    code: int = 0


def emit(as_json: bool, data: dict[str, Any], human: RenderableType) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, sort_keys=True) + "\n")
    else:
        console.print(human, highlight=False)


def fail(as_json: bool, message: str, code: int = 1) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps({"ok": False, "error": message}) + "\n")
    else:
        error_console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def refusals(as_json: bool) -> Iterator[None]:
    """A refusal becomes a message and exit 1, never a traceback (Ctrl-C: 130, a bug: 70)."""
    try:
        yield
    except (IntrexError, Refused) as exc:
        fail(as_json, exc.message)
    except KeyboardInterrupt:
        fail(as_json, "interrupted", 130)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if os.environ.get("INTREX_DEBUG"):
            raise
        fail(
            as_json,
            f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(run again with INTREX_DEBUG=1 for the traceback)",
            70,
        )


def answer(as_json: bool, work: Callable[[], Awaitable[Reply]]) -> None:
    """Run a command's work, print its `Reply` as JSON or for people, exit with its code.

    Everything, the printing included, runs under `refusals`.
    """

    async def run() -> None:
        reply = await work()
        if reply.data is not None:
            emit(as_json, reply.data, reply.human)
        if reply.code:
            raise typer.Exit(reply.code)

    with refusals(as_json):
        asyncio.run(run())
