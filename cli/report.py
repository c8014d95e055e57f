"""`intrex report`: each branch's health score, worst first, and what is behind it (SPEC §7).

Thin over core.reports: one unit of work of the command line in its tenant (`console_unit`:
head office powers, so the whole company, or the one branch `--branch` names), printed for
people or, with `--json`, as one document holding the whole report. `--chart FILE.png`
also writes the chart the bot sends, labelled in `--language` (en or bn; a Bengali chart
carries branch codes and digits only, see `core.reports.chart`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from cli.database import answer_for_tenant
from cli.output import JSON_OPTION, Reply
from core.db.enums import Language
from core.db.session import Database
from core.errors import ErrorCode, ValidationError
from core.i18n import parse_language, texts_for
from core.i18n.labels import label
from core.notify.render import certificate_days, headline
from core.reports.health import HealthBand
from core.reports.service import Report, ReportItem, build_report
from core.tenancy.models import Tenant
from core.tenancy.scope import console_unit

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]
BranchOption = Annotated[str | None, typer.Option("--branch", help="Only this branch (its code).")]
ChartOption = Annotated[
    Path | None, typer.Option("--chart", help="Also write the chart (PNG) to this file.")
]
LanguageOption = Annotated[str, typer.Option("--language", help="The chart's language: en or bn.")]

RANKED_SHOWN = 15
"""Branches listed in the text; `--json` has them all."""
BAND_STYLE = {HealthBand.good: "green", HealthBand.fair: "yellow", HealthBand.poor: "red"}
ENGLISH = texts_for(Language.en)


def chart_language(value: str) -> Language:
    language = parse_language(value)
    if language is None or language.value != value.strip().lower():
        raise ValidationError(ErrorCode.language_unknown, value=value)
    return language


def report_command(
    tenant: TenantOption,
    branch: BranchOption = None,
    chart: ChartOption = None,
    language: LanguageOption = "en",
    as_json: bool = JSON_OPTION,
) -> None:
    """Each branch's health score (0-100), worst first, with the overdue and due-soon
    obligations, certificates at risk, unacknowledged alerts and the last 30 days' waivers."""

    async def work(db: Database, owner: Tenant) -> Reply:
        chosen = chart_language(language)
        async with console_unit(db, owner.id) as (session, actor):
            report = await build_report(session, actor, branch_code=branch)
        data = {"ok": True, "tenant": owner.name, **report.as_dict()}
        parts: list[RenderableType] = [summary(owner.name, report)]
        if chart is not None:
            # Imported here: matplotlib costs every other `intrex` command half a second.
            from core.reports.chart import health_chart

            png = health_chart(report.branches, chosen, today=report.today)
            chart.write_bytes(png)
            data["chart"] = {"path": str(chart), "bytes": len(png), "language": chosen.value}
            parts.append(f"Chart written to {escape(str(chart))} ({ENGLISH.size(len(png))}).")
        return Reply(data, Group(*parts))

    answer_for_tenant(as_json, tenant, work)


def summary(tenant_name: str, report: Report) -> RenderableType:
    """The report for people, in English: the ranking, then each list with its total."""
    scope = f"branch {report.branch_code}" if report.branch_code else "all branches"
    head = (
        f"[bold]{escape(tenant_name)}[/]: health report of {ENGLISH.date(report.today)} "
        f"({report.timezone}), {scope}"
    )
    parts: list[RenderableType] = [head, ranking(report)]
    if len(report.branches) > RANKED_SHOWN:
        parts.append(f"… and {len(report.branches) - RANKED_SHOWN:,} more (--json has them all)")
    parts += [categories(report), *lists(report)]
    return Group(*parts)


def ranking(report: Report) -> Table:
    table = Table(title="Health, worst first", title_justify="left")
    for column in ("branch", "name", "score", "overdue", "due soon", "certificates at risk"):
        table.add_column(column, justify="right" if column not in ("branch", "name") else "left")
    for row in report.worst(RANKED_SHOWN):
        style = BAND_STYLE[row.band]
        table.add_row(
            escape(row.code),
            escape(row.name),
            f"[{style}]{row.score}[/]",
            str(row.facts.overdue_total),
            str(row.facts.due_soon),
            str(row.facts.certificates_at_risk),
        )
    return table


def categories(report: Report) -> Table:
    table = Table(title="By category", title_justify="left")
    for column in ("category", "overdue", f"due within {report.due_soon_days} days", "waived"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for totals in report.categories:
        table.add_row(
            label(ENGLISH, totals.category),
            str(totals.overdue),
            str(totals.due_soon),
            str(totals.waived),
        )
    return table


def item_line(item: ReportItem) -> str:
    return (
        f"  {escape(item.branch_code)}  {escape(item.title)} "
        f"({label(ENGLISH, item.severity)}, {label(ENGLISH, item.category)}): "
        f"{ENGLISH.days_left(item.days_left)}"
    )


def lists(report: Report) -> list[str]:
    lines = [f"Overdue: {report.overdue.total:,}"]
    lines += [item_line(item) for item in report.overdue.items]
    lines.append(f"Due within {report.due_soon_days} days: {report.due_soon.total:,}")
    lines += [item_line(item) for item in report.due_soon.items]
    lines.append(f"Certificates at risk: {report.certificates.total:,}")
    for certificate in report.certificates.items:
        remaining = certificate.days_remaining
        days = (
            f" ({certificate_days(ENGLISH, remaining, expired=certificate.expired)})"
            if remaining is not None
            else ""
        )
        lines.append(
            f"  {escape(certificate.target)} ({escape(certificate.branch_code or 'head office')})"
            f": {label(ENGLISH, certificate.status)}{days}"
        )
    lines.append(f"Unacknowledged alerts: {report.alerts.total:,}")
    for alert in report.alerts.items:
        lines.append(
            f"  {ENGLISH.moment(alert.created_at, report.timezone)}  "
            f"{escape(headline(ENGLISH, alert.event_type.value, alert.payload))}"
        )
    lines.append(f"Waivers in the last {report.waiver_days} days: {report.waivers.total:,}")
    for waiver in report.waivers.items:
        lines.append(
            f"  {escape(waiver.branch_code)}  {escape(waiver.title)}, waived "
            f"{ENGLISH.moment(waiver.waived_at, report.timezone)} by "
            f"{escape(waiver.waived_by or 'the command line')}: {escape(waiver.reason or '')}"
        )
    if report.connectors:
        lines.append("Connectors, last 7 days:")
    for health in report.connectors:
        rate = health.success_rate
        figures = (
            f"{health.deliveries - health.failures:,} of {health.deliveries:,} delivered "
            f"({rate:.0%})"
            if rate is not None
            else "nothing sent"
        )
        lines.append(f"  {escape(health.name)}: {label(ENGLISH, health.status)}, {figures}")
        if health.last_error:
            lines.append(f"    last error: {escape(health.last_error)}")
    return ["\n".join(lines)]
