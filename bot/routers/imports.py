"""Onboarding from chat: an admin sends a CSV or XLSX of obligations, sees a preview, and
presses Import or Cancel (SPEC §3, last rows).

The preview is core's very import run as a dry run (`import_obligations(dry_run=True)`:
exact counts, rolled back), so what it promises is what Import does, unless the tenant
changed in between; Import runs it again for real, all or nothing, and a file that no
longer passes is refused by line like the preview would have been.

Which file a press means. The bytes wait in the data dir (`imports/<tenant>/<token>.pending`,
beside the proof files of the local storage) and the chat's conversation state
(`Flow.confirming_import`) names the current preview: its random token, the file's name,
size and SHA-256, and when it was previewed. A press must carry the current token (a newer
file, another flow or a day's wait makes older buttons stale), and then claims the file by
renaming it: a rename succeeds once, so of two presses (a double tap, two replicas) exactly
one imports or cancels, and the other is told the preview is no longer current. Keeping
the bytes rather than Telegram's file id means Import does not depend on a second download;
the hash proves the file read back is the one previewed. Files left by a preview nobody
answered are swept after `PREVIEW_LIFETIME`, on the next preview of that tenant.

Who sends what. A document while the chat waits for proof is proof (the filter leaves
`Flow.waiting_proof` to the flows router, which comes later). Otherwise a file whose name
or type says CSV or XLSX is an import: head office gets the preview; anyone else is refused
in their language, except that an XLSX, which is also an accepted proof type, goes on to
the flows router's "which obligation is this proof for?". A PDF or a photo is never taken
here. A spreadsheet of another kind (XLS, ODS) or a file whose content is not what its name
says (a PDF named `.csv`) is refused with the accepted types; one over `IMPORT_MAX_BYTES`
with the limit, before it is downloaded when Telegram declares its size.

The handlers are flagged `network`: no transaction is open while a file downloads or an
import runs, since `import_obligations` opens its own tenant transaction; the actor is
loaded in a short unit of work of its own to re-authorise each message and press.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Document, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.callbacks import ImportButton
from bot.keyboards import button, markup
from bot.middlewares import NETWORK, PRIVATE, guard
from bot.replies import edit_or_answer
from bot.states import Flow
from bot.texts import MESSAGE_LIMIT, e
from bot.uploads import DownloadUnavailableError, TelegramFiles
from core.config import Settings
from core.db.session import Database
from core.errors import ByteSize, ErrorCode, PermissionDeniedError, ValidationError
from core.i18n import Texts
from core.i18n.errors import render_error
from core.obligations.documents import ALLOWED_TYPES, display_filename
from core.obligations.importer import ImportRejectedError, ImportReport, import_obligations
from core.storage.mime import XLSX, ZIP, detect_mime
from core.tenancy.models import Tenant
from core.tenancy.scope import ActorUnits

IMPORT_MAX_BYTES = 10 * 1024 * 1024
"""The largest obligations file taken from chat: some 100,000 rows of CSV, well under the
20 MB a bot may download, and held in memory whole while it is checked."""
PREVIEW_LIFETIME = timedelta(hours=24)
"""How long a preview's buttons work; after that the file is swept and must be sent again."""
IMPORT_ACTIONS = ("import", "cancel")


class ImportKind(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    other_sheet = "other_sheet"
    """A spreadsheet the importer does not read (XLS, ODS, Numbers): refused with the types."""


CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values", "text/x-csv"})
OTHER_SHEETS = {
    ".xls": "XLS",
    ".xlsb": "XLSB",
    ".ods": "ODS",
    ".numbers": "Numbers",
}
OTHER_SHEET_TYPES = {
    "application/vnd.ms-excel": "XLS",
    "application/vnd.oasis.opendocument.spreadsheet": "ODS",
}


def import_kind(document: Document | None) -> ImportKind | None:
    """What the file says it is, by its name first (Windows clients send CSV files as
    `application/vnd.ms-excel`), then by its declared type; None: not an import's file
    (or no file: the filter sees every message)."""
    if document is None:
        return None
    name = (document.file_name or "").strip().lower()
    suffix = Path(name).suffix
    if suffix == ".csv":
        return ImportKind.csv
    if suffix in (".xlsx", ".xlsm"):
        return ImportKind.xlsx
    if suffix in OTHER_SHEETS:
        return ImportKind.other_sheet
    mime = (document.mime_type or "").lower()
    if mime in CSV_TYPES:
        return ImportKind.csv
    if mime == XLSX:
        return ImportKind.xlsx
    if mime in OTHER_SHEET_TYPES:
        return ImportKind.other_sheet
    return None


def sheet_name(document: Document) -> str:
    suffix = Path((document.file_name or "").lower()).suffix
    return OTHER_SHEETS.get(suffix) or OTHER_SHEET_TYPES.get(document.mime_type or "", "?")


def check_content(kind: ImportKind, data: bytes) -> None:
    """The bytes must be what the name says: an XLSX workbook, or text for a CSV (a PDF,
    an image or an Office file renamed `.csv` is refused here, with what it looks like)."""
    detected = detect_mime(data)
    if kind is ImportKind.xlsx and detected != XLSX:
        raise ValidationError(ErrorCode.import_type_refused, detected=described(detected))
    if kind is ImportKind.csv and (detected in ALLOWED_TYPES or detected == ZIP):
        raise ValidationError(ErrorCode.import_type_refused, detected=described(detected))


def described(mime: str) -> str:
    return ALLOWED_TYPES.get(mime, "ZIP" if mime == ZIP else mime)


def too_large() -> ValidationError:
    return ValidationError(ErrorCode.import_file_too_large, limit=ByteSize(IMPORT_MAX_BYTES))


class PendingImports:
    """The previewed files of one tenant, in the data dir, each claimed at most once."""

    def __init__(self, settings: Settings, tenant_id: uuid.UUID) -> None:
        self.directory = settings.data_dir / "imports" / tenant_id.hex

    def _path(self, token: str, state: str = "pending") -> Path:
        assert token.isalnum()  # hex: ImportButton refuses any other, so no path escapes
        return self.directory / f"{token}.{state}"

    async def keep(self, token: str, data: bytes) -> None:
        await asyncio.to_thread(self._keep, token, data)

    def _keep(self, token: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self._path(token, "partial")
        partial.write_bytes(data)
        partial.rename(self._path(token))

    async def claim(self, token: str) -> bytes | None:
        """The file's bytes, taken away for good; None when it was claimed (or swept) first."""
        return await asyncio.to_thread(self._claim, token)

    def _claim(self, token: str) -> bytes | None:
        claimed = self._path(token, "claimed")
        try:
            self._path(token).rename(claimed)
        except FileNotFoundError:
            return None
        try:
            return claimed.read_bytes()
        finally:
            claimed.unlink(missing_ok=True)

    async def drop(self, token: str) -> None:
        await asyncio.to_thread(self._path(token).unlink, True)

    async def sweep(self) -> None:
        await asyncio.to_thread(self._sweep)

    def _sweep(self) -> None:
        """Forget files older than a preview lives (and any a crash left half-written)."""
        oldest = time.time() - PREVIEW_LIFETIME.total_seconds()
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                if entry.stat().st_mtime < oldest:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue


def count_lines(report: ImportReport, texts: Texts, *, done: bool) -> list[str]:
    """The report's numbers, as promised (preview) or as done (after Import)."""
    lines = [
        _("Rows: {count}").format(count=texts.number(report.rows)),
        _("Branches: {count}").format(count=texts.number(report.branches)),
    ]
    created, existing = (
        texts.number(report.templates_created),
        texts.number(report.templates_existing),
    )
    instances = texts.number(report.instances_created)
    if done:
        lines += [
            _("Templates created: {count}").format(count=created),
            _("Templates already present: {count}").format(count=existing),
            _("Obligations created: {count}").format(count=instances),
        ]
    else:
        lines += [
            _("Templates to create: {count}").format(count=created),
            _("Templates already present: {count}").format(count=existing),
            _("Obligations to create: {count}").format(count=instances),
        ]
    return lines


def preview_text(name: str, report: ImportReport, texts: Texts) -> str:
    lines = [_("📄 Preview of “{name}”:").format(name=e(name)), ""]
    lines += count_lines(report, texts, done=False)
    lines += ["", _("Nothing is imported until you press Import.")]
    return "\n".join(lines)


def imported_text(name: str, report: ImportReport, texts: Texts) -> str:
    lines = [_("✅ Imported “{name}”:").format(name=e(name)), ""]
    return "\n".join(lines + count_lines(report, texts, done=True))


def rejected_text(heading: str, rejected: ImportRejectedError, locale: str, texts: Texts) -> str:
    """The heading, every fault by line as far as Telegram's limit allows, "… and N more",
    and how to go on."""
    footer = [
        "",
        _(
            "Fix the file and send it again. (To attach it as proof instead, press 📎 on "
            "its obligation in /obligations first.)"
        ),
    ]
    errors = rejected.errors
    head = [heading, _("Problems: {count}").format(count=texts.number(len(errors)))]
    budget = MESSAGE_LIMIT - telegram_length("\n".join(head + footer)) - 1
    room_for_more = telegram_length(more_text(len(errors), locale)) + 1
    kept: list[str] = []
    used = 0
    for number, error in enumerate(errors):
        fault = e(error.render_line(locale))
        last = number == len(errors) - 1
        if used + telegram_length(fault) + 1 + (0 if last else room_for_more) > budget:
            kept.append(more_text(len(errors) - number, locale))
            break
        kept.append(fault)
        used += telegram_length(fault) + 1
    return "\n".join(head + kept + footer)


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units; an emoji is two), at most: escaped
    entities count in full, though they shrink to one character once parsed."""
    return len(text.encode("utf-16-le")) // 2


def more_text(count: int, locale: str) -> str:
    return e(render_error(ValidationError(ErrorCode.import_more_rows, count=count), locale))


def decision_keyboard(token: str) -> InlineKeyboardMarkup | None:
    return markup(
        [
            [
                button(_("✅ Import"), ImportButton(action="import", token=token)),
                button(_("✖️ Cancel"), ImportButton(action="cancel", token=token)),
            ]
        ]
    )


def stale_text() -> str:
    return _(
        "This preview is no longer current: it was imported or cancelled already, it "
        "expired, or a newer file replaced it. Send the file again."
    )


async def is_head_office(units: ActorUnits) -> bool:
    """Asked afresh in a unit of work of its own (the role may have changed a second ago)."""
    async with units() as (_session, actor):
        return actor.role.head_office


async def current_preview(state: FSMContext) -> dict[str, Any]:
    """The chat's pending preview (token, filename, size, sha256, previewed_at), or {}."""
    if await state.get_state() != Flow.confirming_import.state:
        return {}
    data = await state.get_data()
    return data if data.get("token") else {}


async def preview(
    message: Message,
    kind: ImportKind,
    units: ActorUnits,
    db: Database,
    tenant: Tenant,
    bot: Bot,
    state: FSMContext,
    settings: Settings,
    texts: Texts,
    locale: str,
) -> None:
    document = message.document
    assert document is not None
    if not await is_head_office(units):
        if kind is ImportKind.xlsx:
            raise SkipHandler  # an accepted proof type: the flows router offers to attach it
        raise PermissionDeniedError(ErrorCode.import_head_office_only)
    if kind is ImportKind.other_sheet:
        raise ValidationError(ErrorCode.import_type_refused, detected=sheet_name(document))
    if document.file_size is not None and document.file_size > IMPORT_MAX_BYTES:
        raise too_large()
    try:
        data = await TelegramFiles(bot).fetch(document.file_id, IMPORT_MAX_BYTES)
    except DownloadUnavailableError:
        await message.answer(
            _("📄 Telegram did not hand the file over just now. Please send it again.")
        )
        return
    except ValidationError as exc:
        if exc.code is ErrorCode.document_over_limit:
            raise too_large() from exc
        raise
    check_content(kind, data)
    name = display_filename(document.file_name)
    pending = PendingImports(settings, tenant.id)
    await pending.sweep()
    previous = await current_preview(state)
    if previous:
        await pending.drop(str(previous["token"]))
        await state.clear()
    try:
        report = await import_obligations(
            db, tenant, data, filename=name, dry_run=True, actor_user_id=units.user_id
        )
    except ImportRejectedError as rejected:
        heading = _("📄 “{name}”: nothing will be imported until the file is fixed.").format(
            name=e(name)
        )
        await message.answer(rejected_text(heading, rejected, locale, texts))
        return
    token = secrets.token_hex(8)
    await pending.keep(token, data)
    await state.set_state(Flow.confirming_import)
    await state.set_data(
        {
            "token": token,
            "filename": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "previewed_at": datetime.now(UTC).isoformat(),
        }
    )
    await message.answer(preview_text(name, report, texts), reply_markup=decision_keyboard(token))


def expired(previewed_at: str) -> bool:
    return datetime.now(UTC) - datetime.fromisoformat(previewed_at) > PREVIEW_LIFETIME


async def decide(
    callback: CallbackQuery,
    callback_data: ImportButton,
    units: ActorUnits,
    db: Database,
    tenant: Tenant,
    state: FSMContext,
    settings: Settings,
    texts: Texts,
    locale: str,
) -> None:
    """Import or Cancel, once: the press claims the previewed file (see the module doc)."""
    if not await is_head_office(units):
        raise PermissionDeniedError(ErrorCode.import_head_office_only)
    token = callback_data.token
    shown = await current_preview(state)
    pending = PendingImports(settings, tenant.id)
    if shown.get("token") != token or expired(str(shown["previewed_at"])):
        if shown.get("token") == token:
            await pending.drop(token)
            await state.clear()
        await callback.answer(stale_text(), show_alert=True)
        return
    data = await pending.claim(token)
    if data is None:
        await callback.answer(stale_text(), show_alert=True)
        return
    await state.clear()
    name = str(shown["filename"])
    if callback_data.action == "cancel":
        await callback.answer(_("Cancelled."))
        await edit_or_answer(
            callback, _("✖️ Cancelled: nothing from “{name}” was imported.").format(name=e(name))
        )
        return
    await callback.answer(_("Importing…"))
    if hashlib.sha256(data).hexdigest() != shown["sha256"]:
        await edit_or_answer(
            callback,
            _(
                "The stored copy of “{name}” changed; nothing was imported. Send the file again."
            ).format(name=e(name)),
        )
        return
    await edit_or_answer(callback, _("⏳ Importing “{name}”…").format(name=e(name)))
    try:
        report = await import_obligations(
            db, tenant, data, filename=name, actor_user_id=units.user_id
        )
    except ImportRejectedError as rejected:
        heading = _("📄 “{name}” no longer passes its checks: nothing was imported.").format(
            name=e(name)
        )
        await edit_or_answer(callback, rejected_text(heading, rejected, locale, texts))
        return
    await edit_or_answer(callback, imported_text(name, report, texts))


def build_router() -> Router:
    """A fresh router (one per dispatcher); it must come before the flows router, whose
    "which obligation is this proof for?" takes any other file."""
    router = Router(name="imports")
    guard(router)
    router.message.register(
        preview,
        F.chat.type == PRIVATE,
        F.document,
        F.document.func(import_kind).as_("kind"),
        ~StateFilter(Flow.waiting_proof),
        flags={NETWORK: True},
    )
    router.callback_query.register(
        decide, ImportButton.filter(F.action.in_(IMPORT_ACTIONS)), flags={NETWORK: True}
    )
    return router
