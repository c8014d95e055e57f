"""`intrex evidence export`: the chosen obligations' proof files in one ZIP with its manifest,
thin over core.obligations.evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Refused, Reply, refusals
from core.config import get_settings
from core.db.session import Database
from core.i18n import texts_for
from core.obligations.evidence import EvidenceSelection, export_evidence
from core.obligations.recurrence import parse_due_date
from core.storage import local_storage
from core.tenancy.models import Tenant
from core.tenancy.people import chosen_language
from core.tenancy.scope import console_unit

evidence_app = typer.Typer(
    help="Proof files taken out of Intrex, for an inspector.", no_args_is_help=True
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


def writable_destination(output: Path) -> Path:
    """Where the ZIP goes: a file in a folder that exists (it is replaced if it exists)."""
    destination = output.expanduser().absolute()
    if destination.is_dir():
        raise Refused(f"{output} is a folder: give the ZIP file's name, e.g. {output}/evidence.zip")
    if not destination.parent.is_dir():
        raise Refused(f"cannot write {output}: the folder {destination.parent} does not exist")
    return destination


@evidence_app.command("export")
def evidence_export(
    tenant: TenantOption,
    output: Annotated[Path, typer.Option("--output", help="The ZIP file to write.")],
    branch: Annotated[str | None, typer.Option(help="Only this branch code.")] = None,
    due_from: Annotated[
        str | None, typer.Option("--from", help="Due on or after this date (YYYY-MM-DD).")
    ] = None,
    due_to: Annotated[
        str | None, typer.Option("--to", help="Due on or before this date (YYYY-MM-DD).")
    ] = None,
    obligation: Annotated[
        list[str] | None,
        typer.Option(
            "--obligation", help="Only this obligation (its id or first 8+ hex digits); repeatable."
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="en or bn: the manifest's headers (default: the tenant's).")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the proof files of the chosen obligations, with manifest.csv and manifest.json
    (obligation, branch, due, completed by and when, file, SHA-256, size), to a ZIP. Every
    file is checked against its recorded SHA-256; a missing or altered one stops the export
    and no ZIP is left behind."""

    with refusals(as_json):
        selection = EvidenceSelection(
            branch_code=branch,
            due_from=parse_due_date(due_from) if due_from else None,
            due_to=parse_due_date(due_to) if due_to else None,
            obligations=tuple(obligation or ()),
        )
        manifest_language = chosen_language(language) if language else None
        destination = writable_destination(output)

    async def work(db: Database, company: Tenant) -> Reply:
        storage = local_storage(get_settings())
        async with console_unit(db, company.id) as (session, actor):
            archive = await export_evidence(
                session, actor, selection, storage, destination, language=manifest_language
            )
            rows = [file.manifest_row(actor.timezone) for file in archive.files]
        size = texts_for("en").size(archive.total_bytes)
        return Reply(
            {
                "ok": True,
                "path": str(archive.path),
                "files": len(archive.files),
                "obligations": archive.obligations,
                "bytes": archive.total_bytes,
                "manifest": rows,
            },
            f"Wrote {len(archive.files)} file(s) of {archive.obligations} obligation(s), {size}, "
            f"to {escape(str(archive.path))}; every file matches its recorded SHA-256.",
        )

    answer_for_tenant(as_json, tenant, work)
