"""`intrex import obligations` and `intrex obligations list|add|update|delete`: thin over
core.obligations."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.highlighter import ReprHighlighter
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Refused, Reply, console, refusals
from core.db.enums import ObligationCategory, Severity
from core.db.session import Database
from core.i18n import N_
from core.obligations import importer
from core.obligations.manage import (
    UNCHANGED,
    InstanceChanges,
    OneOffSpec,
    Unchanged,
    add_obligation,
    delete_obligation,
    find_obligation,
    update_obligation,
)
from core.obligations.parsing import parse_status
from core.obligations.queries import list_obligations_for_admin, obligation_details
from core.obligations.recurrence import parse_due_date
from core.obligations.views import ObligationView
from core.parsing import parse_enum
from core.reports.exports import CYCLE_COLLECTION, stream_obligation_listing
from core.tenancy.models import Tenant
from core.tenancy.people import find_person
from core.tenancy.scope import console_unit

import_app = typer.Typer(help="Import data from files.", no_args_is_help=True)
obligations_app = typer.Typer(help="A tenant's obligations.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from exc


class _ImportBar:
    """The import's progress on a terminal, for files of more than `BAR_ABOVE_ROWS` rows:
    one bar for checking the file, one for writing it. Called as the importer's `progress`."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Progress | None = None
        self.tasks: dict[importer.ImportStage, TaskID] = {}

    def __call__(self, stage: importer.ImportStage, done: int, total: int) -> None:
        if not self.enabled or not total:
            return
        if self.bar is None:
            rows = total - 1 if stage is importer.ImportStage.checking else total
            if rows <= BAR_ABOVE_ROWS:
                self.enabled = False
                return
            self.bar = Progress(
                TextColumn("[bold]{task.description}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.bar.add_task(IMPORT_STAGES[stage], total=total)
        self.bar.update(task, completed=done, total=total)

    def __enter__(self) -> _ImportBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


BAR_ABOVE_ROWS = 1000
IMPORT_STAGES = {
    importer.ImportStage.checking: "Checking lines",
    importer.ImportStage.writing: "Writing rows",
}


@import_app.command("obligations")
def import_obligations(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV or XLSX: branch_code, category, title, due_date (YYYY-MM-DD or "
            "DD/MM/YYYY), severity, recurrence [, owner, grace_days, proof_required]."
        ),
    ],
    tenant: TenantOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, then roll back.")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import obligations from a CSV or XLSX file: every row is checked first; all or nothing."""

    with refusals(as_json):
        data = _read(file)

    async def work(db: Database, owner: Tenant) -> Reply:
        try:
            with _ImportBar(not as_json and console.is_terminal) as bar:
                report = await importer.import_obligations(
                    db, owner, data, filename=file.name, dry_run=dry_run, progress=bar
                )
        except importer.ImportRejectedError as rejected:
            if not as_json:
                raise
            return Reply(
                {
                    "ok": False,
                    "error": rejected.message,
                    "errors": [
                        {"line": e.line, "code": e.code.value, "message": e.message}
                        for e in rejected.errors
                    ],
                },
                code=1,
            )
        verb = "Would import" if dry_run else "Imported"
        return Reply(
            {"ok": True, "tenant": owner.name, **report.as_dict()},
            f"{verb} {report.rows} row(s) for {report.branches} branch(es) into {owner.name}: "
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
    owner: Annotated[
        str | None, typer.Option(help="Only this owner's (a user's id, email or @username).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 100,
    as_json: bool = JSON_OPTION,
) -> None:
    """List a tenant's obligations, open ones first, by due date."""

    with refusals(as_json):
        wanted = parse_status(status) if status else None

    async def stream(db: Database, company: Tenant) -> Reply:
        """The JSON document, written as the rows come: the same bytes `emit` would print
        for the whole list (keys sorted, so `obligations` comes before `ok` and `total`)."""
        async with console_unit(db, company.id) as (session, actor):
            listing = await stream_obligation_listing(
                session, actor, branch_code=branch, status=wanted, owner=owner, limit=limit
            )
            encode = json.JSONEncoder(default=str, sort_keys=True).encode
            out = sys.stdout
            out.write('{"obligations": [')
            separator = ""
            with CYCLE_COLLECTION.paused():
                async for batch in listing.batches:
                    out.write(
                        separator
                        + ", ".join(
                            encode(owned_dict(item, owner_name)) for item, owner_name in batch
                        )
                    )
                    separator = ", "
            out.write(f'], "ok": true, "total": {listing.total}}}\n')
        return Reply()

    if as_json:
        answer_for_tenant(as_json, tenant, stream)
        return

    async def work(db: Database, company: Tenant) -> Reply:
        listing = await list_obligations_for_admin(
            db, company, branch_code=branch, status=wanted, owner=owner, limit=limit
        )
        data = {
            "ok": True,
            "total": listing.total,
            "obligations": [
                owned_dict(item, listing.owner_names.get(item.owner_user_id or 0))
                for item in listing.items
            ],
        }
        if not listing.items:
            return Reply(data, "No obligations match.")
        table = Table(show_lines=False, header_style="bold")
        for column in ("branch", "due", "status", "severity", "category", "title", "owner", "id"):
            table.add_column(
                column, overflow="fold" if column in ("title", "owner") else "ellipsis"
            )
        styles = {"overdue": "red", "due_today": "yellow", "completed": "green"}
        for item in listing.items:
            table.add_row(
                item.branch_code,
                item.due_at.isoformat(),
                f"[{styles.get(item.status.value, 'default')}]{item.status.value}[/]",
                item.severity.value,
                item.category.value,
                escape(item.title),
                escape(listing.owner_names.get(item.owner_user_id or 0, "")),
                str(item.id),
            )
        if listing.total <= len(listing.items):
            return Reply(data, table)
        more = f"Showing {len(listing.items)} of {listing.total} (use --limit)."
        # Replies print unhighlighted; this line always had its numbers highlighted.
        return Reply(data, Group(table, ReprHighlighter()(more)))

    answer_for_tenant(as_json, tenant, work)


IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The obligation's id (or its first 8+ hex digits).")
]
NOBODY = "-"


def owned_dict(item: ObligationView, owner_name: str | None) -> dict[str, object]:
    return {**item.as_dict(), "owner_name": owner_name}


def obligation_line(item: ObligationView, owner_name: str | None) -> str:
    """ "“VAT return” (DHK-01), due 2026-06-30, upcoming, severity high, owner Jamal Uddin"."""
    return (
        f"“{escape(item.title)}” ({item.branch_code}), due {item.due_at.isoformat()}, "
        f"{item.status.value}, severity {item.severity.value}, "
        f"owner {escape(owner_name) if owner_name else 'nobody'}"
    )


@obligations_app.command("add")
def add_one_off(
    tenant: TenantOption,
    branch: Annotated[str, typer.Option(help="The branch's code.")],
    category: Annotated[
        str,
        typer.Option(help=", ".join(member.value for member in ObligationCategory) + "."),
    ],
    title: Annotated[str, typer.Option(help="What must be done.")],
    due: Annotated[str, typer.Option(help="The due date: YYYY-MM-DD or DD/MM/YYYY.")],
    severity: Annotated[str, typer.Option(help="low, medium, high or critical.")] = "medium",
    owner: Annotated[
        str | None, typer.Option(help="Who owns it: a user's id, email or @username.")
    ] = None,
    proof_required: Annotated[
        bool, typer.Option("--proof-required", help="Proof must be uploaded to complete it.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="More about it.")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a one-off obligation to one branch (audited)."""

    with refusals(as_json):
        spec = OneOffSpec(
            branch_code=branch,
            category=parse_enum(ObligationCategory, category, N_("category")),
            title=title,
            due=parse_due_date(due),
            severity=parse_enum(Severity, severity, N_("severity")),
            proof_required=proof_required,
            description=description,
        )

    async def work(db: Database, company: Tenant) -> Reply:
        async with console_unit(db, company.id) as (session, actor):
            owner_id = await find_person(session, owner) if owner is not None else None
            view = await add_obligation(session, actor, replace(spec, owner_user_id=owner_id))
            details = await obligation_details(session, actor, view.id)
        return Reply(
            {"ok": True, "obligation": owned_dict(view, details.owner_name)},
            f"Added {obligation_line(view, details.owner_name)}: {view.id}",
        )

    answer_for_tenant(as_json, tenant, work)


@obligations_app.command("update")
def update_instance(
    tenant: TenantOption,
    obligation_id: IdArgument,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit trail.")],
    due: Annotated[
        str | None, typer.Option(help="The new due date: YYYY-MM-DD or DD/MM/YYYY.")
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(help="The new owner (a user's id, email or @username), or - for nobody."),
    ] = None,
    severity: Annotated[str | None, typer.Option(help="low, medium, high or critical.")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change an open obligation's due date, owner or severity, with a reason (audited)."""

    with refusals(as_json):
        new_due = parse_due_date(due) if due is not None else None
        new_severity = parse_enum(Severity, severity, N_("severity")) if severity else None

    async def work(db: Database, company: Tenant) -> Reply:
        async with console_unit(db, company.id) as (session, actor):
            instance_id = await find_obligation(session, obligation_id)
            new_owner: int | Unchanged | None = UNCHANGED
            if owner is not None:
                new_owner = None if owner.strip() == NOBODY else await find_person(session, owner)
            result = await update_obligation(
                session,
                actor,
                instance_id,
                InstanceChanges(due=new_due, owner=new_owner, severity=new_severity),
                reason,
            )
            details = await obligation_details(session, actor, instance_id)
        line = obligation_line(result.obligation, details.owner_name)
        return Reply(
            {
                "ok": True,
                "changed": result.changed,
                "resolved_alerts": result.resolved_alerts,
                "obligation": owned_dict(result.obligation, details.owner_name),
            },
            f"Updated {line}." if result.changed else f"Nothing changed: {line}.",
        )

    answer_for_tenant(as_json, tenant, work)


@obligations_app.command("delete")
def delete_instance(
    tenant: TenantOption,
    obligation_id: IdArgument,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit trail.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete an open obligation, with a reason (audited; its open alerts are resolved)."""

    async def work(db: Database, company: Tenant) -> Reply:
        async with console_unit(db, company.id) as (session, actor):
            instance_id = await find_obligation(session, obligation_id)
            result = await delete_obligation(session, actor, instance_id, reason)
        item = result.obligation
        return Reply(
            {
                "ok": True,
                "deleted": str(item.id),
                "resolved_alerts": result.resolved_alerts,
                "template_deleted": result.template_deleted,
            },
            f"Deleted “{escape(item.title)}” ({item.branch_code}, due {item.due_at.isoformat()}); "
            f"{result.resolved_alerts} open alert(s) resolved.",
        )

    answer_for_tenant(as_json, tenant, work)
