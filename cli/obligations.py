"""`intrex import obligations` and `intrex obligations list`: thin over core.obligations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.highlighter import ReprHighlighter
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Refused, Reply, console, refusals
from core.db.session import Database
from core.obligations import importer
from core.obligations.parsing import parse_status
from core.obligations.queries import list_obligations_for_admin
from core.tenancy.models import Tenant

import_app = typer.Typer(help="Import data from files.", no_args_is_help=True)
obligations_app = typer.Typer(help="A tenant's obligations.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from exc


@import_app.command("obligations")
def import_obligations(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: branch_code, category, title, due_date, "
            "severity, recurrence [, proof_required]."
        ),
    ],
    tenant: TenantOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, then roll back.")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import obligations from a CSV file: every row is checked first; all or nothing."""

    with refusals(as_json):
        data = _read(file)

    async def work(db: Database, owner: Tenant) -> Reply:
        try:
            return await _import(db, owner)
        except importer.ImportRejectedError as rejected:
            if not as_json:
                raise
            return Reply(
                {
                    "ok": False,
                    "error": rejected.message,
                    "errors": [{"line": e.line, "message": e.message} for e in rejected.errors],
                },
                code=1,
            )

    async def _import(db: Database, owner: Tenant) -> Reply:
        rows, _ = importer.parse_obligations_csv(importer.decode_csv(data))
        show_bar = not as_json and console.is_terminal
        with Progress(
            TextColumn("[bold]Importing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_bar,
            transient=True,
        ) as bar:
            task = bar.add_task("rows", total=len(rows))
            report = await importer.import_obligations(
                db,
                owner,
                data,
                filename=file.name,
                dry_run=dry_run,
                progress=lambda done: bar.advance(task, done),
            )
        verb = "Would import" if dry_run else "Imported"
        return Reply(
            {"ok": True, "tenant": owner.name, **report.as_dict()},
            f"{verb} {report.rows} row(s) into {owner.name}: "
            f"{report.templates_created} new obligation(s), "
            f"{report.templates_existing} already present, "
            f"{report.instances_created} dated instance(s) created"
            + (" (dry run: nothing was saved)" if dry_run else ""),
        )

    answer_for_tenant(as_json, tenant, work)


@obligations_app.command("list")
def list_obligations(
    tenant: TenantOption,
    branch: Annotated[str | None, typer.Option(help="Only this branch code.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="upcoming, due_today, overdue, completed or waived."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 100,
    as_json: bool = JSON_OPTION,
) -> None:
    """List a tenant's obligations, open ones first, by due date."""

    with refusals(as_json):
        wanted = parse_status(status) if status else None

    async def work(db: Database, owner: Tenant) -> Reply:
        listing = await list_obligations_for_admin(
            db, owner, branch_code=branch, status=wanted, limit=limit
        )
        data = {
            "ok": True,
            "total": listing.total,
            "obligations": [item.as_dict() for item in listing.items],
        }
        if not listing.items:
            return Reply(data, "No obligations match.")
        table = Table(show_lines=False, header_style="bold")
        for column in ("branch", "due", "status", "severity", "category", "title", "id"):
            table.add_column(column, overflow="fold" if column == "title" else "ellipsis")
        styles = {"overdue": "red", "due_today": "yellow", "completed": "green"}
        for item in listing.items:
            table.add_row(
                item.branch_code,
                item.due_at.isoformat(),
                f"[{styles.get(item.status.value, 'default')}]{item.status.value}[/]",
                item.severity.value,
                item.category.value,
                item.title,
                str(item.id),
            )
        if listing.total <= len(listing.items):
            return Reply(data, table)
        more = f"Showing {len(listing.items)} of {listing.total} (use --limit)."
        # Replies print unhighlighted; this line always had its numbers highlighted.
        return Reply(data, Group(table, ReprHighlighter()(more)))

    answer_for_tenant(as_json, tenant, work)
