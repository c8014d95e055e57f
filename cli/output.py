"""How every command answers: Rich text for people, one JSON document with `--json`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from core.errors import IntrexError

T = TypeVar("T")

console = Console()
error_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one machine-readable JSON document.")


def emit(as_json: bool, data: dict[str, Any], human: str) -> None:
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


def run_async(as_json: bool, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one command's coroutine; a refusal becomes a message and exit 1, never a traceback."""
    import asyncio

    try:
        return asyncio.run(work())
    except IntrexError as exc:
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
