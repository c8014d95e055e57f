"""`intrex template …`: the tenant's obligation templates and the standard catalogue (SPEC §6).

Thin over core.obligations.templates and core.obligations.catalogue: every command is one
unit of work of the command line in its tenant (`console_unit`: head office powers, audited
with no user). Every option is parsed by core's parsers (dates as YYYY-MM-DD or DD/MM/YYYY,
recurrences as `monthly` or `every:N`), so a bad value is refused with the reason, never a
traceback; `--json` prints one document.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Annotated

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Reply, answer, refusals
from cli.people import branch_id_of, refuse_usage
from core.db.enums import ObligationCategory, Severity
from core.db.session import Database
from core.errors import ErrorCode, ValidationError
from core.i18n import N_
from core.obligations.catalogue import AdoptionReport, adopt_catalogue, catalogue
from core.obligations.recurrence import Recurrence, parse_due_date, parse_recurrence
from core.obligations.reference import find_jurisdiction
from core.obligations.templates import (
    TemplateChanges,
    TemplateScope,
    TemplateSpec,
    TemplateView,
    UpdateResult,
    create_template,
    find_template,
    list_templates,
    parse_lead_days,
    set_template_active,
    update_template,
)
from core.parsing import parse_enum
from core.tenancy.models import Tenant
from core.tenancy.people import find_person
from core.tenancy.scope import console_unit

template_app = typer.Typer(
    help="Obligation templates: the standard catalogue, add, list, update, deactivate.",
    no_args_is_help=True,
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]
TemplateArgument = Annotated[
    str, typer.Argument(help="The template's id, or its first 6 or more characters.")
]
CategoryOption = Annotated[
    str | None,
    typer.Option(
        "--category",
        help="trade_license, fire_safety, tax_vat, environmental_permit or inspection_renewal.",
    ),
]
TitleOption = Annotated[str | None, typer.Option("--title", help="What has to be done.")]
RecurrenceOption = Annotated[
    str | None,
    typer.Option(
        "--recurrence", help="none, monthly, quarterly, semiannual, annual or every:N (days)."
    ),
]
AnchorOption = Annotated[
    str | None,
    typer.Option("--anchor", help="The first due date: YYYY-MM-DD or DD/MM/YYYY."),
]
SeverityOption = Annotated[
    str | None, typer.Option("--severity", help="low, medium, high or critical.")
]
LeadDaysOption = Annotated[
    str | None,
    typer.Option("--lead-days", help="Reminder days before the due date, e.g. 30,14,7,3,1,0."),
]
GraceDaysOption = Annotated[
    int | None,
    typer.Option("--grace-days", help="Days after the due date before it escalates (0: never)."),
]
DescriptionOption = Annotated[
    str | None, typer.Option("--description", help="Details for the people who do it.")
]
OwnerOption = Annotated[
    str | None,
    typer.Option("--owner", help="Owner of its instances: a user's id, email or @username."),
]
JurisdictionOption = Annotated[
    str | None,
    typer.Option(
        "--jurisdiction",
        help="Apply to the branches of this jurisdiction: its id, code (BD-DNCC) or name.",
    ),
]
BranchOption = Annotated[
    str | None, typer.Option("--branch", help="Apply to this one branch (its code).")
]

ADD_USAGE = (
    "intrex template add --tenant T --category C --title TITLE --recurrence R --anchor DATE "
    "[--severity S] [--lead-days 30,14,7,3,1,0] [--grace-days N] [--proof-required] "
    "[--description D] [--owner USER] [--jurisdiction ID|LABEL | --branch CODE]"
)
UPDATE_USAGE = (
    "intrex template update --tenant T ID [--category C] [--title TITLE] [--recurrence R] "
    "[--anchor DATE] [--severity S] [--lead-days 30,14,7,3,1,0] [--grace-days N] "
    "[--proof-required | --no-proof-required] [--description D] [--owner USER | --no-owner] "
    "[--jurisdiction ID|LABEL | --branch CODE | --all-branches]"
)
ADOPT_USAGE = "intrex template adopt --tenant T KEY... | --all [--jurisdiction ID|LABEL]"


def parse_category(value: str) -> ObligationCategory:
    return parse_enum(ObligationCategory, value, N_("category"))


def parse_severity(value: str) -> Severity:
    return parse_enum(Severity, value, N_("severity"))


def recurrence_words(recurrence: Recurrence) -> str:
    if recurrence.days is not None:
        return f"every {recurrence.days} day{'s' if recurrence.days != 1 else ''}"
    return "one-off" if not recurrence.recurring else recurrence.value


def applies_text(view: TemplateView) -> str:
    if view.branch_code is not None:
        return f"branch {view.branch_code}"
    if view.jurisdiction_label is not None:
        return view.jurisdiction_label
    return "all branches"


def short_id(template_id: uuid.UUID) -> str:
    return template_id.hex[:8]


def template_table(views: list[TemplateView]) -> Table:
    table = Table(header_style="bold")
    columns = ("id", "title", "category", "recurrence", "anchor", "severity", "applies to")
    for column in (*columns, "lead days", "grace", "owner", "open", "status"):
        table.add_column(
            column, overflow="fold" if column in ("title", "applies to") else "ellipsis"
        )
    for view in views:
        table.add_row(
            short_id(view.id),
            escape(view.title),
            view.category.value,
            recurrence_words(view.recurrence),
            view.anchor_date.isoformat() if view.anchor_date else "—",
            view.severity.value,
            escape(applies_text(view)),
            ",".join(str(days) for days in view.reminder_lead_days),
            str(view.grace_days),
            escape(view.owner_name or "—"),
            str(view.open_instances),
            view.status if view.active else f"[red]{view.status}[/]",
        )
    return table


def template_text(view: TemplateView) -> str:
    """One template, one fact a line (after `add` and `update`)."""
    lines = [
        f"[bold]{escape(view.title)}[/] (id {view.id})",
        f"category: {view.category.value}",
        f"recurrence: {recurrence_words(view.recurrence)}, from "
        f"{view.anchor_date.isoformat() if view.anchor_date else '—'}",
        f"severity: {view.severity.value}",
        f"reminders: {', '.join(str(days) for days in view.reminder_lead_days)} days before",
        f"grace days: {view.grace_days}",
        f"proof required: {'yes' if view.proof_required else 'no'}",
        f"owner: {escape(view.owner_name or '—')}",
        f"applies to: {escape(applies_text(view))}",
        f"status: {view.status}",
        f"open instances: {view.open_instances}",
    ]
    if view.description:
        lines.insert(1, escape(view.description))
    return "\n".join(lines)


@dataclass(frozen=True)
class ScopeWords:
    """Where a template is to apply, as typed (resolved inside the unit of work)."""

    jurisdiction: str | None = None
    branch: str | None = None
    everywhere: bool = False

    def check(self) -> None:
        chosen = [self.jurisdiction is not None, self.branch is not None, self.everywhere]
        if sum(chosen) > 1:
            raise ValidationError(ErrorCode.template_scope_ambiguous)

    @property
    def given(self) -> bool:
        return self.jurisdiction is not None or self.branch is not None or self.everywhere

    async def resolve(self, session: AsyncSession) -> TemplateScope:
        if self.jurisdiction is not None:
            place = await find_jurisdiction(session, self.jurisdiction)
            return TemplateScope(jurisdiction_id=place.id)
        if self.branch is not None:
            return TemplateScope(branch_id=await branch_id_of(session, self.branch))
        return TemplateScope()


@template_app.command("catalogue")
def template_catalogue(
    country: Annotated[str, typer.Option("--country", help="Two-letter country code.")] = "BD",
    as_json: bool = JSON_OPTION,
) -> None:
    """List the standard obligations a tenant can adopt (`intrex template adopt`)."""

    async def work() -> Reply:
        entries = catalogue(country)
        table = Table(header_style="bold")
        table.add_column("key", no_wrap=True)
        table.add_column("obligation", ratio=1)
        for column in ("category", "recurrence", "lead days", "grace", "severity"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            table.add_row(
                entry.key,
                f"{escape(entry.title_en)} ({escape(entry.authority_en)})\n"
                f"{escape(entry.title_bn)}",
                entry.category.value,
                recurrence_words(entry.recurrence),
                ",".join(str(days) for days in entry.lead_days),
                str(entry.grace_days),
                entry.severity.value,
            )
        footer = "Adopt with: intrex template adopt --tenant T KEY... (or --all)."
        return Reply(
            {
                "ok": True,
                "country": country.strip().upper(),
                "entries": [e.as_json() for e in entries],
            },
            Group(table, footer),
        )

    answer(as_json, work)


def adoption_text(report: AdoptionReport) -> str:
    lines = []
    if report.adopted:
        lines.append(
            f"Adopted {len(report.adopted)} template(s), {report.instances_created} "
            "instance(s) generated:"
        )
        lines += [
            f"  {short_id(view.id)}  {view.catalogue_key}: {escape(view.title)} "
            f"(first due {view.anchor_date.isoformat() if view.anchor_date else '—'})"
            for view in report.adopted
        ]
    if report.already_adopted:
        lines.append(f"Already adopted: {', '.join(report.already_adopted)}.")
    if report.adopted:
        lines.append(
            "Review each one's anchor date: intrex template update --tenant T ID --anchor DATE"
        )
    return "\n".join(lines)


@template_app.command("adopt")
def template_adopt(
    tenant: TenantOption,
    keys: Annotated[
        list[str] | None, typer.Argument(help="Catalogue keys (intrex template catalogue).")
    ] = None,
    adopt_all: Annotated[bool, typer.Option("--all", help="Adopt every entry.")] = False,
    jurisdiction: JurisdictionOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy catalogue entries into the tenant as templates (adopted ones are skipped)."""
    if adopt_all == bool(keys):
        refuse_usage(as_json, ADOPT_USAGE)

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            report = await adopt_catalogue(
                session, actor, None if adopt_all else list(keys or ()), jurisdiction=jurisdiction
            )
        return Reply({"ok": True, **report.as_json()}, adoption_text(report))

    answer_for_tenant(as_json, tenant, work)


@template_app.command("add")
def template_add(
    tenant: TenantOption,
    category: CategoryOption = None,
    title: TitleOption = None,
    recurrence: RecurrenceOption = None,
    anchor: AnchorOption = None,
    severity: SeverityOption = None,
    lead_days: LeadDaysOption = None,
    grace_days: GraceDaysOption = None,
    proof_required: Annotated[
        bool, typer.Option("--proof-required", help="Completing needs a proof document.")
    ] = False,
    description: DescriptionOption = None,
    owner: OwnerOption = None,
    jurisdiction: JurisdictionOption = None,
    branch: BranchOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a template; its instances are generated for every branch it applies to."""
    if category is None or title is None or recurrence is None or anchor is None:
        refuse_usage(as_json, ADD_USAGE)
    where = ScopeWords(jurisdiction=jurisdiction, branch=branch)
    with refusals(as_json):
        where.check()
        spec = TemplateSpec(
            category=parse_category(category),
            title=title,
            recurrence=parse_recurrence(recurrence),
            severity=parse_severity(severity) if severity is not None else Severity.medium,
            anchor_date=parse_due_date(anchor),
            proof_required=proof_required,
            reminder_lead_days=tuple(parse_lead_days(lead_days))
            if lead_days is not None
            else TemplateSpec.reminder_lead_days,
            grace_days=grace_days if grace_days is not None else 0,
            description=description,
        )

    async def work(db: Database, tenant_row: Tenant) -> Reply:
        async with console_unit(db, tenant_row.id) as (session, actor):
            scope = await where.resolve(session)
            owner_id = await find_person(session, owner) if owner is not None else None
            result = await create_template(
                session,
                actor,
                replace(
                    spec,
                    jurisdiction_id=scope.jurisdiction_id,
                    branch_id=scope.branch_id,
                    owner_user_id=owner_id,
                ),
            )
        assert result.view is not None
        return Reply(
            {
                "ok": True,
                "template": result.view.as_json(),
                "instances_created": result.instances_created,
            },
            f"Added template {short_id(result.view.id)}: {result.instances_created} "
            f"instance(s) generated.\n{template_text(result.view)}",
        )

    answer_for_tenant(as_json, tenant, work)


@template_app.command("list")
def template_list(
    tenant: TenantOption,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Deactivated templates too.")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the tenant's templates: where each applies and how many instances are open."""

    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            views = await list_templates(session, actor, include_inactive=include_inactive)
        data = {"ok": True, "templates": [view.as_json() for view in views]}
        if not views:
            return Reply(
                data, "No templates. Add one (intrex template add) or adopt the catalogue."
            )
        return Reply(data, template_table(views))

    answer_for_tenant(as_json, tenant, work)


def _changes_text(result: UpdateResult) -> str:
    if not result.changed:
        return "Nothing changed: the template already says that."
    parts = [f"{result.instances_updated} future open instance(s) updated"]
    if result.instances_removed:
        parts.append(f"{result.instances_removed} that no longer fit removed")
    if result.instances_kept_with_proof:
        parts.append(f"{result.instances_kept_with_proof} with proof kept")
    if result.instances_created:
        parts.append(f"{result.instances_created} generated")
    return f"Updated ({', '.join(parts)}).\n{template_text(result.template)}"


@template_app.command("update")
def template_update(
    tenant: TenantOption,
    template: TemplateArgument,
    category: CategoryOption = None,
    title: TitleOption = None,
    recurrence: RecurrenceOption = None,
    anchor: AnchorOption = None,
    severity: SeverityOption = None,
    lead_days: LeadDaysOption = None,
    grace_days: GraceDaysOption = None,
    proof_required: Annotated[
        bool | None,
        typer.Option(
            "--proof-required/--no-proof-required", help="Whether completing needs proof."
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="New details ('' clears them).")
    ] = None,
    owner: OwnerOption = None,
    no_owner: Annotated[bool, typer.Option("--no-owner", help="Remove the owner.")] = False,
    jurisdiction: JurisdictionOption = None,
    branch: BranchOption = None,
    all_branches: Annotated[
        bool, typer.Option("--all-branches", help="Apply to every branch of the tenant.")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a template; its future open instances follow, closed and past ones stay."""
    where = ScopeWords(jurisdiction=jurisdiction, branch=branch, everywhere=all_branches)
    given = (category, title, recurrence, anchor, severity, lead_days, grace_days)
    if (
        all(value is None for value in given)
        and proof_required is None
        and description is None
        and owner is None
        and not no_owner
        and not where.given
    ):
        refuse_usage(as_json, UPDATE_USAGE)
    if owner is not None and no_owner:
        refuse_usage(as_json, UPDATE_USAGE)
    with refusals(as_json):
        where.check()
        wanted = TemplateChanges(
            category=parse_category(category) if category is not None else None,
            title=title,
            description=description,
            recurrence=parse_recurrence(recurrence) if recurrence is not None else None,
            anchor_date=parse_due_date(anchor) if anchor is not None else None,
            severity=parse_severity(severity) if severity is not None else None,
            reminder_lead_days=tuple(parse_lead_days(lead_days)) if lead_days is not None else None,
            grace_days=grace_days,
            proof_required=proof_required,
            clear_owner=no_owner,
        )

    async def work(db: Database, owner_tenant: Tenant) -> Reply:
        async with console_unit(db, owner_tenant.id) as (session, actor):
            template_id = await find_template(session, actor, template)
            changes = replace(
                wanted,
                owner_user_id=await find_person(session, owner) if owner is not None else None,
                scope=await where.resolve(session) if where.given else None,
            )
            result = await update_template(session, actor, template_id, changes)
        return Reply(
            {
                "ok": True,
                "changed": result.changed,
                "changed_fields": list(result.changed_fields),
                "template": result.template.as_json(),
                "instances_updated": result.instances_updated,
                "instances_removed": result.instances_removed,
                "instances_kept_with_proof": result.instances_kept_with_proof,
                "instances_created": result.instances_created,
            },
            _changes_text(result),
        )

    answer_for_tenant(as_json, tenant, work)


def _set_active(tenant: str, template: str, active: bool, as_json: bool) -> None:
    async def work(db: Database, owner: Tenant) -> Reply:
        async with console_unit(db, owner.id) as (session, actor):
            template_id = await find_template(session, actor, template)
            view, changed = await set_template_active(session, actor, template_id, active)
        state = "active" if active else "inactive"
        if not changed:
            human = f"{escape(view.title)} is already {state}: nothing changed."
        elif active:
            human = f"Activated {escape(view.title)}: instances are generated again."
        else:
            human = (
                f"Deactivated {escape(view.title)}: no more instances are generated; "
                f"the {view.open_instances} open one(s) and the history stay."
            )
        return Reply({"ok": True, "changed": changed, "template": view.as_json()}, human)

    answer_for_tenant(as_json, tenant, work)


@template_app.command("deactivate")
def template_deactivate(
    tenant: TenantOption, template: TemplateArgument, as_json: bool = JSON_OPTION
) -> None:
    """Stop generating instances of a template (what exists stays)."""
    _set_active(tenant, template, False, as_json)


@template_app.command("activate")
def template_activate(
    tenant: TenantOption, template: TemplateArgument, as_json: bool = JSON_OPTION
) -> None:
    """Generate a deactivated template's instances again, from today."""
    _set_active(tenant, template, True, as_json)
