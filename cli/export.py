"""`intrex export obligations|domains|audit|deliveries`: a tenant's data as CSV or XLSX (SPEC §7).

Thin over core.reports.exports, as head office in the tenant (`console_unit`): the rows
stream from a server-side cursor into the file, so memory stays flat whatever the count.
CSV goes to standard output unless `--output` names a file; an XLSX workbook (a zip, of no
use on a terminal) goes to `--output` or else to `<kind>-<the tenant's date>.xlsx` in the
current folder. A file is written under a temporary name beside it and renamed when
complete, so a failed export never leaves half a file under the real name. With CSV on
standard output, `--json` cannot share it: refusals are printed for people, on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Annotated

import typer

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Refused, Reply, refusals
from core.config import get_settings
from core.db.enums import Language
from core.db.session import Database
from core.i18n import N_, choose_language
from core.parsing import parse_enum
from core.reports.exports import ExportFormat, ExportKind, ExportRequest, prepare_export
from core.tenancy.models import Tenant
from core.tenancy.scope import console_unit

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


def _partial(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.part")


def export_command(
    kind: Annotated[
        str, typer.Argument(metavar="KIND", help="obligations, domains, audit or deliveries.")
    ],
    tenant: TenantOption,
    format_: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write (CSV: standard output without it; XLSX: "
            "KIND-YYYY-MM-DD.xlsx in the current folder).",
        ),
    ] = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch (its code).")] = None,
    language: Annotated[
        str | None,
        typer.Option(help="Headers and words in en or bn (default: the tenant's language)."),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a tenant's obligations, domains, audit trail or deliveries as CSV or XLSX."""

    with refusals(as_json):
        chosen_kind = parse_enum(ExportKind, kind, N_("export"))
        chosen_format = parse_enum(ExportFormat, format_, N_("format"))
        chosen_language = parse_enum(Language, language, N_("language")) if language else None
    to_stdout = output is None and chosen_format is ExportFormat.csv

    async def work(db: Database, company: Tenant) -> Reply:
        request = ExportRequest(
            kind=chosen_kind,
            format=chosen_format,
            language=chosen_language
            or choose_language(None, None, company.language, get_settings().default_language),
            branch_code=branch,
        )
        async with console_unit(db, company.id) as (session, actor):
            prepared = await prepare_export(session, actor, request)
            if to_stdout:
                await _to_stdout(prepared.write)
                return Reply()
            destination = output or Path(prepared.filename)
            partial = _partial(destination)
            try:
                with _open(partial) as target:
                    rows = await prepared.write(target)
                partial.replace(destination)
            finally:
                partial.unlink(missing_ok=True)
        return Reply(
            {
                "ok": True,
                "kind": chosen_kind.value,
                "format": chosen_format.value,
                "rows": rows,
                "file": str(destination),
            },
            f"Wrote {rows} {chosen_kind.value} row(s) to {destination}",
        )

    answer_for_tenant(as_json and not to_stdout, tenant, work)


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("wb")
    except OSError as exc:
        raise Refused(f"cannot write {path}: {exc.strerror or exc}") from exc


async def _to_stdout(write: Callable[[IO[bytes]], Awaitable[int]]) -> None:
    """Stream to standard output; a reader that hangs up early (`| head`) ends it quietly."""
    sys.stdout.flush()
    try:
        await write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
