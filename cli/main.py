"""`intrex`: administration commands (SPEC §2). Every command takes `--json`."""

from __future__ import annotations

import asyncio
import shlex
import signal
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from cli.audit import audit_app
from cli.database import answer_for_tenant, answer_from_database, open_target
from cli.domains import domain_app
from cli.evidence import evidence_app
from cli.export import export_command
from cli.jurisdictions import jurisdiction_app
from cli.notify import connector_app, notify_app, route_app
from cli.obligations import import_app, obligations_app
from cli.output import JSON_OPTION, Reply, answer, emit, fail
from cli.people import invite_app, refuse_usage, user_app
from cli.report import report_command
from cli.ssl import ssl_app
from cli.templates import template_app
from core.config import get_settings
from core.crypto import generate_key, load_secret_box
from core.db.enums import BranchStatus
from core.db.migrate import ensure_schema, migrate
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.logging import configure_logging
from core.notify.connectors import rotate_connector_secrets
from core.tenancy import service as tenancy
from core.tenancy.models import Branch, Tenant, User
from core.tenancy.scope import console_unit

app = typer.Typer(
    name="intrex",
    help="Intrex keeps multi-branch businesses compliant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
tenant_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
branch_app = typer.Typer(
    help="Create, list, change, deactivate and activate a tenant's branches.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="Encryption keys for connector secrets.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(branch_app, name="branch")
app.add_typer(invite_app, name="invite")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
app.add_typer(ssl_app, name="ssl")
app.add_typer(domain_app, name="domain")
app.add_typer(import_app, name="import")
app.add_typer(obligations_app, name="obligations")
app.add_typer(jurisdiction_app, name="jurisdiction")
app.add_typer(template_app, name="template")
app.add_typer(connector_app, name="connector")
app.add_typer(route_app, name="route")
app.add_typer(notify_app, name="notify")
app.add_typer(evidence_app, name="evidence")
app.add_typer(audit_app, name="audit")
app.command("export")(export_command)
app.command("report")(report_command)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


@app.command("migrate")
def migrate_command(as_json: bool = JSON_OPTION) -> None:
    """Create the database roles where allowed and bring the schema to the current version."""

    async def work() -> Reply:
        async with open_target() as target:
            report = await migrate(target)
        data = {
            "ok": not report.missing,
            "from_revision": report.from_revision,
            "to_revision": report.to_revision,
            "done": report.done,
            "missing": report.missing,
        }
        lines = [f"[green]✓[/] {item}" for item in report.done]
        lines += [f"[yellow]✗[/] {item}" for item in report.missing]
        lines.append(f"schema: {report.from_revision or 'empty'} → {report.to_revision}")
        return Reply(data, "\n".join(lines), code=1 if report.missing else 0)

    answer(as_json, work)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Unique tenant name.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone of the tenant.")] = "UTC",
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a tenant."""

    async def work(db: Database) -> Reply:
        tenant = await tenancy.create_tenant(db, name, timezone)
        return Reply(
            {"ok": True, "id": tenant.id, "name": tenant.name, "timezone": tenant.timezone},
            f"Created tenant [bold]{tenant.name}[/] ({tenant.timezone}) id {tenant.id}",
        )

    answer_from_database(as_json, work)


@tenant_app.command("set")
def tenant_set(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")],
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    quiet_hours: Annotated[
        str | None, typer.Option(help="Local window like 22:00-07:00, or off.")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a tenant's time zone or quiet hours."""

    async def work(db: Database, owner: Tenant) -> Reply:
        updated = await tenancy.update_tenant(db, owner, timezone=timezone, quiet_hours=quiet_hours)
        window = (
            f"{updated.quiet_hours_start:%H:%M}-{updated.quiet_hours_end:%H:%M}"
            if updated.quiet_hours_start and updated.quiet_hours_end
            else None
        )
        return Reply(
            {"ok": True, "name": updated.name, "timezone": updated.timezone, "quiet_hours": window},
            f"{updated.name}: time zone {updated.timezone}, quiet hours {window or 'off'}",
        )

    answer_for_tenant(as_json, tenant, work)


@tenant_app.command("list")
def tenant_list(as_json: bool = JSON_OPTION) -> None:
    """List tenants."""

    async def work(db: Database) -> Reply:
        tenants = await tenancy.list_tenants(db)
        rows = [{"id": t.id, "name": t.name, "timezone": t.timezone} for t in tenants]
        human = "\n".join(f"{t.name}\t{t.timezone}\t{t.id}" for t in tenants) or "No tenants."
        return Reply({"ok": True, "tenants": rows}, human)

    answer_from_database(as_json, work)


@branch_app.command("create")
def branch_create(
    tenant: TenantOption,
    code: Annotated[str, typer.Option(help="Short unique branch code, e.g. DHK-01.")],
    name: Annotated[str, typer.Option(help="Branch name.")],
    city_corporation: Annotated[str | None, typer.Option()] = None,
    district: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a branch of a tenant."""

    async def work(db: Database, owner: Tenant) -> Reply:
        branch = await tenancy.create_branch(
            db,
            owner,
            code=code,
            name=name,
            city_corporation=city_corporation,
            district=district,
            region=region,
        )
        return Reply(
            {"ok": True, **branch_json(branch)},
            f"Created branch {branch_text(branch)} in {escape(owner.name)}",
        )

    answer_for_tenant(as_json, tenant, work)


def branch_json(branch: Branch) -> dict[str, Any]:
    return {
        "id": branch.id,
        "code": branch.code,
        "name": branch.name,
        "city_corporation": branch.city_corporation,
        "district": branch.district,
        "region": branch.region,
        "status": branch.status,
    }


def branch_text(branch: Branch) -> str:
    """A branch on one line: code, name, where it is, and its status when not active."""
    place = ", ".join(
        part for part in (branch.city_corporation, branch.district, branch.region) if part
    )
    return (
        f"[bold]{escape(branch.code)}[/] {escape(branch.name)}"
        + (f" ({escape(place)})" if place else "")
        + ("" if branch.status == BranchStatus.active else f" [red]{branch.status}[/]")
    )


@branch_app.command("list")
def branch_list(tenant: TenantOption, as_json: bool = JSON_OPTION) -> None:
    """List a tenant's branches with their status."""

    async def work(db: Database, owner: Tenant) -> Reply:
        branches = await tenancy.list_branches(db, owner)
        if not branches:
            return Reply({"ok": True, "branches": []}, "No branches.")
        table = Table(header_style="bold")
        for column in ("code", "name", "city corporation", "district", "region", "status"):
            table.add_column(column, overflow="fold")
        for b in branches:
            table.add_row(
                escape(b.code),
                escape(b.name),
                escape(b.city_corporation or ""),
                escape(b.district or ""),
                escape(b.region or ""),
                b.status if b.status == BranchStatus.active else f"[red]{b.status}[/]",
            )
        return Reply({"ok": True, "branches": [branch_json(b) for b in branches]}, table)

    answer_for_tenant(as_json, tenant, work)


BRANCH_UPDATE_USAGE = (
    "intrex branch update --tenant T --code CODE [--name N] [--city-corporation X] "
    "[--district X] [--region X]"
)


@branch_app.command("update")
def branch_update(
    tenant: TenantOption,
    code: Annotated[str, typer.Option(help="The branch's code.")],
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    city_corporation: Annotated[str | None, typer.Option(help="'' clears it.")] = None,
    district: Annotated[str | None, typer.Option(help="'' clears it.")] = None,
    region: Annotated[str | None, typer.Option(help="'' clears it.")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Rename a branch or change where it is (audited)."""
    if all(value is None for value in (name, city_corporation, district, region)):
        refuse_usage(as_json, BRANCH_UPDATE_USAGE)
    changes = tenancy.BranchChanges(
        name=name, city_corporation=city_corporation, district=district, region=region
    )

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            branch = await tenancy.update_branch(session, actor, code, changes)
            data = {"ok": True, "branch": branch_json(branch)}
            human = f"Updated branch {branch_text(branch)}"
        return Reply(data, human)

    answer_for_tenant(as_json, tenant, work)


def _set_branch_active(tenant: str, code: str, active: bool, as_json: bool) -> None:
    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            branch, changed = await tenancy.set_branch_active(session, actor, code, active)
            data = {"ok": True, "changed": changed, "branch": branch_json(branch)}
            if changed:
                human = f"{'Activated' if active else 'Deactivated'} branch {branch_text(branch)}"
            else:
                state = "active" if active else "inactive"
                human = f"Branch {escape(branch.code)} is already {state}: nothing changed."
        return Reply(data, human)

    answer_for_tenant(as_json, tenant, work)


@branch_app.command("deactivate")
def branch_deactivate(
    tenant: TenantOption,
    code: Annotated[str, typer.Option(help="The branch's code.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Deactivate a branch: no new obligations, its domains pause; nothing is deleted."""
    _set_branch_active(tenant, code, False, as_json)


@branch_app.command("activate")
def branch_activate(
    tenant: TenantOption,
    code: Annotated[str, typer.Option(help="The branch's code.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Activate a deactivated branch again."""
    _set_branch_active(tenant, code, True, as_json)


@keys_app.command("generate")
def keys_generate(as_json: bool = JSON_OPTION) -> None:
    """Print a new Fernet key for SECRET_KEYS (put it first to start a rotation)."""
    key = generate_key()
    emit(as_json, {"ok": True, "key": key}, key)


@keys_app.command("rotate")
def keys_rotate(as_json: bool = JSON_OPTION) -> None:
    """Re-encrypt every connector's configuration under the first key of SECRET_KEYS."""

    async def work(db: Database) -> Reply:
        settings = get_settings()
        box = load_secret_box(settings, embedded=settings.database_url is None)
        count = await rotate_connector_secrets(db, box)
        return Reply(
            {"ok": True, "rotated": count},
            f"Re-encrypted {count} connector configuration(s) under the first key.",
        )

    answer_from_database(as_json, work)


@app.command("run")
def run_command(
    no_bot: Annotated[bool, typer.Option("--no-bot", help="Do not start the bot.")] = False,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not start scheduler and dispatcher.")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Start Intrex: the database (embedded without DATABASE_URL), bot, worker, HTTP server."""
    from cli.runtime import Services, run_services  # aiogram loads only for `run`

    def announce(services: Services, step: str | None) -> None:
        skipped = "; ".join(f"{name}: {why}" for name, why in services.skipped.items())
        emit(
            as_json,
            {
                "ok": True,
                "database": services.database,
                "started": services.started,
                "skipped": services.skipped,
                "http_port": services.http_port,
                "next_step": step,
            },
            f"Intrex is up on {services.database}: {', '.join(services.started)}."
            + (f"\nNot started — {skipped}." if skipped else "")
            + (f"\n{escape(step)}" if step else "")
            + "\nPress Ctrl-C to stop.",
        )

    async def work() -> Reply:
        stop = _stop_on_signals()
        settings = get_settings()
        configure_logging(settings)
        async with open_target(settings) as target:
            await ensure_schema(target)  # once more in run_services: one cheap query then
            step = await _next_step_in(target)
            await run_services(
                settings,
                target,
                stop,
                bot_wanted=not no_bot,
                worker_wanted=not no_worker,
                announce=lambda services: announce(services, step),
            )
        return Reply()

    answer(as_json, work)


FIRST_TENANT_STEP = (
    "No tenant yet: create one with `intrex tenant create NAME --timezone Asia/Dhaka`, "
    "then `intrex invite create --tenant NAME --role head_office_admin` "
    "and open the link it prints in Telegram."
)


async def next_step(db: Database) -> str | None:
    """What a new installation needs next: a tenant, then a first user; None once it has both."""
    async with db.system_uow() as session:
        names = list(await session.scalars(select(Tenant.name).order_by(Tenant.name).limit(2)))
        someone = await session.scalar(select(User.id).limit(1))
    if not names:
        return FIRST_TENANT_STEP
    if someone is not None:
        return None
    tenant = shlex.quote(names[0]) if len(names) == 1 else "NAME"
    which = "" if len(names) == 1 else " (NAME: one of `intrex tenant list`)"
    return (
        f"No user yet: run `intrex invite create --tenant {tenant} --role head_office_admin`"
        f"{which} and open the link it prints in Telegram."
    )


async def _next_step_in(target: DatabaseTarget) -> str | None:
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=1)
    try:
        return await next_step(db)
    finally:
        await db.dispose()


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, installed before anything starts."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        fail(False, "interrupted", 130)


__all__ = ["app", "main"]
