"""`intrex audit list`: the audit trail, filtered and paged, latest first; thin over
core.audit.queries, worded by core.audit.wording."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Reply, refusals
from core.audit.queries import (
    AuditFilter,
    AuditPage,
    find_audit_user,
    list_audit,
    parse_cursor,
    parse_entity,
)
from core.audit.wording import action_text, change_text, who_text
from core.db.session import Database
from core.i18n import texts_for
from core.obligations.recurrence import parse_due_date
from core.tenancy.models import Tenant
from core.tenancy.scope import console_unit

audit_app = typer.Typer(help="The audit trail: who changed what, and when.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


def audit_table(page: AuditPage, timezone: str) -> Table:
    texts = texts_for("en")
    table = Table(header_style="bold", show_lines=True)
    for column in ("when", "who", "what", "row", "changes"):
        table.add_column(column, overflow="fold")
    for entry in page.entries:
        what = action_text(texts, entry.action)
        table.add_row(
            texts.moment(entry.timestamp, timezone),
            escape(who_text(texts, entry)),
            escape(f"{what}: “{entry.subject}”" if entry.subject else what),
            escape(f"{entry.entity_type}:{entry.entity_id or ''}"),
            escape(
                "\n".join(
                    change_text(texts, page, entry, change, timezone) for change in entry.changes
                )
            ),
        )
    return table


@audit_app.command("list")
def audit_list(
    tenant: TenantOption,
    entity: Annotated[
        str | None,
        typer.Option(help="TYPE or TYPE:ID, e.g. obligation_instance or user:12."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="One action (obligation.complete) or a family (obligation.*)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Who: a user's id, email, @username or name.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this day on (YYYY-MM-DD, the tenant's zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Through this day (YYYY-MM-DD, the tenant's zone).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries (1 to 500).")] = 50,
    before: Annotated[
        str | None,
        typer.Option(help="Entries older than this position (the one the last page printed)."),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the audit trail, latest first: when, who, what, and the fields before → after."""

    with refusals(as_json):
        entity_type, entity_id = parse_entity(entity) if entity else (None, None)
        since_day = parse_due_date(since) if since else None
        until_day = parse_due_date(until) if until else None
        cursor = parse_cursor(before) if before else None

    async def work(db: Database, company: Tenant) -> Reply:
        async with console_unit(db, company.id) as (session, actor):
            user_id = await find_audit_user(session, user) if user is not None else None
            filters = AuditFilter(
                entity_type=entity_type,
                entity_id=entity_id,
                action=action,
                user_id=user_id,
                since=since_day,
                until=until_day,
            )
            page = await list_audit(session, actor, filters, limit=limit, before=cursor)
        older = page.older.token if page.older else None
        data = {
            "ok": True,
            "entries": [entry.as_dict() for entry in page.entries],
            "older": older,
        }
        if not page.entries:
            return Reply(data, "No audit entries match.")
        if older is None:
            return Reply(data, audit_table(page, company.timezone))
        more = f"Older entries: add --before {older}"
        return Reply(data, Group(audit_table(page, company.timezone), more))

    answer_for_tenant(as_json, tenant, work)
