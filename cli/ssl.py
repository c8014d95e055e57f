"""`intrex ssl check HOST[:PORT]... [--file F] [--json]`: certificate checks from the shell.

The checks run concurrently through the same checker as the scheduler (same trust store,
SSL_CA_FILE, timeout, concurrency and private-address rule) and nothing is stored. Each
host is printed as soon as its check finishes; the exit status is 0 only when every
result is `ok`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.output import Refused, Reply, answer, console
from core.config import get_settings
from core.db.enums import SslCheckStatus
from core.errors import ValidationError
from core.ssl.checker import CheckOutcome, SslChecker
from core.ssl.hosts import HostPort, parse_host_port

ssl_app = typer.Typer(help="TLS certificate checks.", no_args_is_help=True)

PROGRESS_FROM = 5
"""Hosts from which a terminal gets a progress bar (fewer finish before one is useful)."""

MARKS = {SslCheckStatus.ok: "[green]✓[/]", SslCheckStatus.warning: "[yellow]![/]"}


def read_targets(hosts: list[str], file: Path | None) -> list[HostPort]:
    """Every target from the arguments and the file, parsed, in order, without duplicates."""
    sources: list[tuple[str, str]] = [(f"argument {host!r}", host) for host in hosts]
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise Refused(f"cannot read {file}: {exc}") from exc
        for number, line in enumerate(lines, start=1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                sources.append((f"line {number} of {file}", entry))
    targets: dict[HostPort, None] = {}
    for where, text in sources:
        try:
            targets[parse_host_port(text)] = None
        except ValidationError as exc:
            raise Refused(f"{where}: {exc.message}") from exc
    if not targets:
        raise Refused("give at least one HOST[:PORT], or --file with one per line")
    return list(targets)


def outcome_json(outcome: CheckOutcome) -> dict[str, Any]:
    """`host`, `port` and the `ssl_check_results` fields, JSON-ready."""
    fields = outcome.result_fields()
    document: dict[str, Any] = {"host": outcome.host, "port": outcome.port}
    for key, value in fields.items():
        if isinstance(value, SslCheckStatus):
            value = value.value
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        document[key] = value
    return document


def outcome_line(outcome: CheckOutcome) -> str:
    mark = MARKS.get(outcome.status, "[red]✗[/]")
    target = escape(str(HostPort(outcome.host, outcome.port)))
    line = f"{mark} {target}  [bold]{outcome.status.value}[/]"
    cert = outcome.certificate
    if cert is not None and outcome.days_remaining is not None:
        days = outcome.days_remaining
        issuer = escape(cert.issuer_cn or "unknown issuer")
        if outcome.status is SslCheckStatus.expired:
            line += f"  expired {cert.valid_to:%Y-%m-%d}, issuer {issuer}"
        else:
            line += f"  {days} days left, until {cert.valid_to:%Y-%m-%d}, issuer {issuer}"
    if outcome.error_detail:
        line += f"  [dim]{escape(outcome.error_detail)}[/]"
    return line


@contextmanager
def progress_for(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield progress


@ssl_app.command("check")
def check_command(
    hosts: Annotated[
        list[str] | None, typer.Argument(help="Hosts to check, as HOST or HOST:PORT.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="A file with one HOST[:PORT] per line; '#' starts a comment."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line, one line per host.")
    ] = False,
) -> None:
    """Check certificates now: one line per host as it finishes; exit 0 only if all are ok."""

    async def work() -> Reply:
        targets = read_targets(hosts or [], file)
        checker = SslChecker.from_settings(get_settings())
        all_ok = True
        show_progress = not as_json and console.is_terminal and len(targets) >= PROGRESS_FROM
        with progress_for(show_progress) as progress:
            task = progress.add_task("checking", total=len(targets)) if progress else None
            async for _, outcome in checker.check_each(targets, lambda target: target):
                all_ok = all_ok and outcome.status is SslCheckStatus.ok
                if as_json:
                    sys.stdout.write(json.dumps(outcome_json(outcome), sort_keys=True) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(outcome_line(outcome), highlight=False, soft_wrap=True)
                if progress is not None and task is not None:
                    progress.advance(task)
        return Reply(code=0 if all_ok else 1)

    answer(as_json, work)
