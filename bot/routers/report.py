"""/report [BRANCH]: the branches' health scores, worst first, then the chart, and Export.

Head office sees the company, a branch manager their branches; an operator is refused by
core (`policy.can_view_report`), in their language, by the error router. The handler is
flagged `network`: the report is built in one short unit of work; after it has ended the
text is sent while the chart is drawn (in a thread: it is a tenth of a second of CPU), then
the chart follows as a photo, so no transaction waits on Telegram. The Export button (an
XLSX of the same scope's obligations; its press is `bot.routers.exports`') is shown when
the export policy lets this person press it.
"""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.callbacks import ExportButton
from bot.keyboards import button, markup
from bot.middlewares import NETWORK, guard
from bot.texts import CERTIFICATE_MARK, clip, e, fit_lines
from core.errors import ErrorCode, ValidationError
from core.i18n import Texts
from core.i18n.labels import label
from core.notify.health import HealthStatus
from core.reports.chart import health_chart
from core.reports.exports import ExportKind, can_export
from core.reports.health import HealthBand
from core.reports.service import Report, build_report
from core.tenancy.scope import ActorUnits

USAGE = "/report [BRANCH_CODE]"
BRANCHES_SHOWN = 5
ITEMS_SHOWN = 3
WAIVERS_SHOWN = 5
REASON_SHOWN = 150
"""Characters of a waiver's reason in the chat (the export has it whole)."""
BAND_MARK = {HealthBand.good: "🟢", HealthBand.fair: "🟡", HealthBand.poor: "🔴"}


def ranking_lines(report: Report, texts: Texts) -> list[str]:
    lines = [_("Worst first:")]
    for number, row in enumerate(report.worst(BRANCHES_SHOWN), start=1):
        lines.append(
            _("{number}. {mark} <b>{code}</b> {name}: {score}").format(
                number=texts.number(number),
                mark=BAND_MARK[row.band],
                code=e(row.code),
                name=e(row.name),
                score=texts.number(row.score),
            )
        )
    hidden = len(report.branches) - BRANCHES_SHOWN
    if hidden > 0:
        lines.append(
            texts.ngettext(
                "… and {count} more branch", "… and {count} more branches", hidden
            ).format(count=texts.number(hidden))
        )
    return lines


def obligation_lines(report: Report, texts: Texts) -> list[str]:
    lines = [_("Overdue: {count}").format(count=texts.number(report.overdue.total))]
    lines += [
        _("• {title} ({branch}), {when}").format(
            title=e(item.title), branch=e(item.branch_code), when=texts.days_left(item.days_left)
        )
        for item in report.overdue.items[:ITEMS_SHOWN]
    ]
    lines.append(
        _("Due today or within {days} days: {count}").format(
            days=texts.number(report.due_soon_days), count=texts.number(report.due_soon.total)
        )
    )
    lines += [
        _("• {title} ({branch}), {when}").format(
            title=e(item.title), branch=e(item.branch_code), when=texts.days_left(item.days_left)
        )
        for item in report.due_soon.items[:ITEMS_SHOWN]
    ]
    busy = [t for t in report.categories if t.overdue or t.due_soon or t.waived]
    if busy:
        lines.append(_("By category:"))
        lines += [
            _("• {category}: {overdue} overdue, {soon} due soon, {waived} waived").format(
                category=label(texts, totals.category),
                overdue=texts.number(totals.overdue),
                soon=texts.number(totals.due_soon),
                waived=texts.number(totals.waived),
            )
            for totals in busy
        ]
    return lines


def certificate_lines(report: Report, texts: Texts) -> list[str]:
    lines = [
        _("Certificates at risk: {count}").format(count=texts.number(report.certificates.total))
    ]
    for certificate in report.certificates.items[:ITEMS_SHOWN]:
        mark = CERTIFICATE_MARK.get(certificate.status, "")
        status = label(texts, certificate.status)
        if certificate.branch_code:
            lines.append(
                _("• {mark} {target} ({branch}): {status}").format(
                    mark=mark,
                    target=e(certificate.target),
                    branch=e(certificate.branch_code),
                    status=status,
                )
            )
        else:
            lines.append(
                _("• {mark} {target} (head office): {status}").format(
                    mark=mark, target=e(certificate.target), status=status
                )
            )
    return lines


def waiver_lines(report: Report, texts: Texts) -> list[str]:
    lines = [
        _("Waivers in the last {days} days: {count}").format(
            days=texts.number(report.waiver_days), count=texts.number(report.waivers.total)
        )
    ]
    for waiver in report.waivers.items[:WAIVERS_SHOWN]:
        reason = e(clip(waiver.reason or "", REASON_SHOWN))
        if waiver.waived_by:
            lines.append(
                _("• {title} ({branch}), waived by {who}: {reason}").format(
                    title=e(waiver.title),
                    branch=e(waiver.branch_code),
                    who=e(waiver.waived_by),
                    reason=reason,
                )
            )
        else:
            lines.append(
                _("• {title} ({branch}), waived from the command line: {reason}").format(
                    title=e(waiver.title), branch=e(waiver.branch_code), reason=reason
                )
            )
    return lines


def connector_lines(report: Report, texts: Texts) -> list[str]:
    """Head office's connectors, each with its last 7 days; the last error of a failing one."""
    if not report.connectors:
        return []
    lines = [_("Connectors, last 7 days:")]
    for health in report.connectors:
        rate = health.success_rate
        lines.append(
            _("• {name}: {status}, {sent} of {attempts} delivered").format(
                name=e(health.name),
                status=label(texts, health.status),
                sent=texts.number(health.deliveries - health.failures),
                attempts=texts.number(health.deliveries),
            )
            if rate is not None
            else _("• {name}: {status}").format(
                name=e(health.name), status=label(texts, health.status)
            )
        )
        if health.status is HealthStatus.failing and health.last_error:
            lines.append(
                _("    last error: {error}").format(error=e(clip(health.last_error, REASON_SHOWN)))
            )
    return lines


def report_text(report: Report, texts: Texts) -> str:
    """The report in a few lines, under Telegram's limit (lines dropped from the end)."""
    if report.branch_code:
        title = _("<b>Health report of {branch}</b>, {date}").format(
            branch=e(report.branch_code), date=texts.date(report.today)
        )
    else:
        title = _("<b>Health report</b>, {date}").format(date=texts.date(report.today))
    if not report.branches:
        return fit_lines([title, _("No branches in your scope.")])
    lines = [title, *ranking_lines(report, texts), ""]
    lines += [*obligation_lines(report, texts), ""]
    lines += [*certificate_lines(report, texts), ""]
    lines.append(
        _("Unacknowledged alerts: {count}").format(count=texts.number(report.alerts.total))
    )
    lines += waiver_lines(report, texts)
    if report.connectors:
        lines += ["", *connector_lines(report, texts)]
    return fit_lines(lines)


def export_keyboard(report: Report) -> InlineKeyboardMarkup | None:
    return markup(
        [
            [
                button(
                    _("📥 Export (Excel)"),
                    ExportButton(kind="obligations", branch=report.branch_code or ""),
                )
            ]
        ]
    )


async def report(message: Message, command: CommandObject, units: ActorUnits, texts: Texts) -> None:
    parts = (command.args or "").split()
    if len(parts) > 1:
        raise ValidationError(ErrorCode.usage, usage=USAGE)
    async with units() as (session, actor):
        built = await build_report(session, actor, branch_code=parts[0] if parts else None)
        exportable = can_export(actor, ExportKind.obligations)
    keyboard = export_keyboard(built) if exportable else None
    text = report_text(built, texts)
    if not built.branches:
        await message.answer(text)
        return
    drawing = asyncio.create_task(
        asyncio.to_thread(health_chart, built.branches, texts.language, today=built.today)
    )
    try:
        await message.answer(text)
    finally:
        png = await drawing
    await message.answer_photo(
        BufferedInputFile(png, filename=f"report-{built.today.isoformat()}.png"),
        caption=_("Health score 0-100, worst first: 🟢 80 and above, 🟡 50 to 79, 🔴 below 50."),
        reply_markup=keyboard,
    )


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="report")
    guard(router)
    router.message.register(report, Command("report"), flags={NETWORK: True})
    return router
