"""The Export button and `/export`: a spreadsheet (XLSX) of the reader's scope, as a document.

Both handlers are flagged `network` and work in phases, each its own unit of work with the
actor reloaded (`ActorUnits`), so no transaction waits on Telegram:

1. (the button only) the permission and the branch are checked, so a refusal is still the
   pop-up of the press; then the press is answered at once ("preparing…"), since Telegram
   forgets a press left unanswered while a large workbook is written;
2. the export is checked again and written, streamed from the cursor into a temporary file
   (never held in memory), with the headers and words in the reader's language;
3. the file is sent with sendDocument under its name (`obligations-2026-12-02.xlsx`) and
   deleted. A file larger than Telegram lets a bot send is not sent; the reader is told to
   take one branch at a time or use `intrex export`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, FSInputFile, Message
from aiogram.utils.i18n import gettext as _

from bot.callbacks import ExportButton
from bot.middlewares import NETWORK, guard
from bot.texts import e
from core.errors import ErrorCode, ValidationError
from core.i18n import N_, Texts
from core.parsing import parse_enum
from core.reports.exports import (
    ExportFormat,
    ExportKind,
    ExportRequest,
    check_export,
    prepare_export,
)
from core.tenancy.scope import ActorUnits

USAGE = "/export [obligations|domains|audit|deliveries] [BRANCH_CODE]"
UPLOAD_LIMIT = 50 * 1024 * 1024
"""The largest document a bot may send (Telegram's limit for uploads)."""


def _request(kind: str, branch: str | None, texts: Texts) -> ExportRequest:
    return ExportRequest(
        kind=parse_enum(ExportKind, kind, N_("export")),
        format=ExportFormat.xlsx,
        language=texts.language,
        branch_code=branch or None,
    )


async def _send_export(
    bot: Bot, chat_id: int, units: ActorUnits, request: ExportRequest, texts: Texts
) -> None:
    """Write the workbook in one unit of work, then send it after the unit has ended."""
    with tempfile.TemporaryDirectory(prefix="intrex-export-") as folder:
        path = Path(folder) / "export.xlsx"
        async with units() as (session, actor):
            prepared = await prepare_export(session, actor, request)
            with path.open("wb") as target:
                rows = await prepared.write(target)
        size = path.stat().st_size
        if size > UPLOAD_LIMIT:
            await bot.send_message(
                chat_id,
                _(
                    "The spreadsheet is {size}, more than Telegram lets a bot send ({limit}). "
                    "Export one branch at a time, or ask head office for "
                    "<code>intrex export</code>."
                ).format(size=texts.size(size), limit=texts.size(UPLOAD_LIMIT)),
            )
            return
        caption = _("{title}: {rows}").format(
            title=e(prepared.sheet.title),
            rows=texts.ngettext("{count} row", "{count} rows", rows).format(
                count=texts.number(rows)
            ),
        )
        await bot.send_document(
            chat_id, FSInputFile(path, filename=prepared.filename), caption=caption
        )


async def export_pressed(
    callback: CallbackQuery,
    callback_data: ExportButton,
    bot: Bot,
    units: ActorUnits,
    texts: Texts,
) -> None:
    request = _request(callback_data.kind, callback_data.branch, texts)
    async with units() as (session, actor):
        await check_export(session, actor, request)
    await callback.answer(_("Preparing the spreadsheet…"))
    chat_id = callback.message.chat.id if callback.message else callback.from_user.id
    await _send_export(bot, chat_id, units, request, texts)


async def export_command(
    message: Message, command: CommandObject, bot: Bot, units: ActorUnits, texts: Texts
) -> None:
    parts = (command.args or "").split()
    if len(parts) > 2:
        raise ValidationError(ErrorCode.usage, usage=USAGE)
    kind = parts[0] if parts else ExportKind.obligations.value
    branch = parts[1] if len(parts) == 2 else None
    await _send_export(bot, message.chat.id, units, _request(kind, branch, texts), texts)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="exports")
    guard(router)
    router.message.register(export_command, Command("export"), flags={NETWORK: True})
    router.callback_query.register(export_pressed, ExportButton.filter(), flags={NETWORK: True})
    return router
