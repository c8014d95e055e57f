"""`intrex domain list|add|remove|pause|resume` and `intrex import domains` (SPEC §2).

Thin over core.ssl.service and core.ssl.importer, as head office in the tenant
(`console_unit`: the bot's policy and audit, with no user). `domain add` runs the phases
of `/adddomain` (plan, check the certificate outside any transaction, register) and
answers with the first check; `import domains` registers the whole file due now, so the
scheduler's next round makes the first checks in the background. `import domains` is a
command of the `import` group of cli.obligations, registered here beside its siblings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.database import answer_for_tenant
from cli.obligations import import_app
from cli.output import JSON_OPTION, Refused, Reply, console, refusals
from cli.people import jsonable, local_time
from cli.ssl import outcome_json, outcome_line
from core.config import get_settings
from core.db.session import Database
from core.obligations.importer import ImportRejectedError
from core.ssl import importer
from core.ssl.hosts import HostPort
from core.ssl.models import Domain
from core.ssl.service import (
    DomainState,
    add_domain,
    list_domains,
    pause_domain,
    remove_domain,
    resume_domain,
)
from core.tenancy.models import Tenant
from core.tenancy.scope import console_unit

domain_app = typer.Typer(
    help="The tenant's monitored domains: list, add, remove, pause, resume.",
    no_args_is_help=True,
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]
TargetArgument = Annotated[str, typer.Argument(help="The domain, as HOST or HOST:PORT.")]

PROGRESS_FROM = 20
"""Rows from which a terminal gets a progress bar while the file's hosts are resolved."""


def target_of(domain: Domain) -> str:
    return str(HostPort(domain.hostname, domain.port))


def domain_json(domain: Domain) -> dict[str, Any]:
    document: dict[str, Any] = jsonable(
        {
            "id": domain.id,
            "target": target_of(domain),
            "host": domain.hostname,
            "port": domain.port,
            "status": domain.status.value if domain.status else None,
            "last_checked_at": domain.last_checked_at,
            "next_check_at": domain.next_check_at,
            "paused": domain.paused_at is not None,
            "paused_at": domain.paused_at,
        }
    )
    return document


def state_json(state: DomainState) -> dict[str, Any]:
    result = state.last_result
    document = domain_json(state.domain)
    document["branch_code"] = state.branch_code
    document["days_remaining"] = result.days_remaining if result else None
    document["valid_to"] = jsonable(result.valid_to) if result else None
    return document


def domain_table(states: list[DomainState], timezone: str) -> Table:
    table = Table(header_style="bold")
    for column in ("domain", "branch", "status", "days left", "last check", "paused"):
        table.add_column(column, overflow="fold" if column == "domain" else "ellipsis")
    for state in states:
        domain, result = state.domain, state.last_result
        status = domain.status.value if domain.status else "not checked yet"
        days = result.days_remaining if result and result.days_remaining is not None else None
        table.add_row(
            escape(target_of(domain)),
            escape(state.branch_code or "head office"),
            status if status in ("ok", "not checked yet") else f"[red]{status}[/]",
            "" if days is None else str(days),
            local_time(domain.last_checked_at, timezone),
            f"[yellow]since {local_time(domain.paused_at, timezone)}[/]"
            if domain.paused_at
            else "no",
        )
    return table


@domain_app.command("list")
def domain_list(tenant: TenantOption, as_json: bool = JSON_OPTION) -> None:
    """List the monitored domains: branch, last status, days left, last check, paused."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            states = await list_domains(session, actor)
        data = {"ok": True, "domains": [state_json(state) for state in states]}
        if not states:
            return Reply(data, "No monitored domains.")
        return Reply(data, domain_table(states, owner.timezone))

    answer_for_tenant(as_json, tenant, work)


@domain_app.command("add")
def domain_add(
    tenant: TenantOption,
    target: TargetArgument,
    branch: Annotated[
        str | None, typer.Option(help="The branch's code; without it, head office's.")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Monitor a domain: registered with its first certificate check, which is shown."""

    async def work(db: Database, owner: Tenant) -> Reply:
        checked = await add_domain(
            lambda: console_unit(db, owner.id), target, branch, settings=get_settings()
        )
        assert checked.domain is not None
        return Reply(
            {
                "ok": True,
                "domain": domain_json(checked.domain),
                "check": outcome_json(checked.outcome),
            },
            f"Now monitoring {escape(str(checked.target))}. First check:\n"
            + outcome_line(checked.outcome),
        )

    answer_for_tenant(as_json, tenant, work)


@domain_app.command("remove")
def domain_remove(
    tenant: TenantOption, target: TargetArgument, as_json: bool = JSON_OPTION
) -> None:
    """Stop monitoring a domain: its history goes, its open alerts end."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            removed = await remove_domain(session, actor, target)
            shown = target_of(removed)
        return Reply({"ok": True, "removed": shown}, f"Stopped monitoring {escape(shown)}.")

    answer_for_tenant(as_json, tenant, work)


@domain_app.command("pause")
def domain_pause(tenant: TenantOption, target: TargetArgument, as_json: bool = JSON_OPTION) -> None:
    """Pause a domain's checks (kept with its history); its open alerts end."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            domain = await pause_domain(session, actor, target)
            data = {"ok": True, "domain": domain_json(domain)}
            shown = target_of(domain)
        return Reply(
            data,
            f"Paused monitoring of {escape(shown)}: no checks, its open alerts ended. "
            f"Resume with `intrex domain resume --tenant {escape(tenant)} {escape(shown)}`.",
        )

    answer_for_tenant(as_json, tenant, work)


@domain_app.command("resume")
def domain_resume(
    tenant: TenantOption, target: TargetArgument, as_json: bool = JSON_OPTION
) -> None:
    """Resume a paused domain's checks: it is due at once, for the next round."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            domain = await resume_domain(session, actor, target)
            data = {"ok": True, "domain": domain_json(domain)}
            shown = target_of(domain)
        return Reply(data, f"Resumed monitoring of {escape(shown)}: the next round checks it.")

    answer_for_tenant(as_json, tenant, work)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from exc


@import_app.command("domains")
def import_domains(
    file: Annotated[
        Path, typer.Argument(help="CSV: hostname [, port] [, branch_code], with a header.")
    ],
    tenant: TenantOption,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import domains to monitor: every row is checked first; all or nothing; due now."""

    with refusals(as_json):
        data = _read(file)

    async def work(db: Database, owner: Tenant) -> Reply:
        try:
            return await _import(db, owner)
        except ImportRejectedError as rejected:
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
        show_bar = not as_json and console.is_terminal
        with Progress(
            TextColumn("[bold]Resolving hosts[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_bar,
            transient=True,
        ) as bar:
            task = bar.add_task("rows", total=None, visible=False)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, visible=total >= PROGRESS_FROM)

            report = await importer.import_domains(
                lambda: console_unit(db, owner.id),
                data,
                settings=get_settings(),
                filename=file.name,
                progress=advance,
            )
        return Reply(
            {"ok": True, "tenant": owner.name, **report.as_dict()},
            f"Imported {report.rows} domain(s) into {escape(owner.name)}; "
            "the next scheduler round makes their first checks.",
        )

    answer_for_tenant(as_json, tenant, work)
