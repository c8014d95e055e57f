"""Proof files from Telegram: downloaded with a hard size limit, and never lost.

`TelegramFiles.fetch` streams the file and stops reading at the limit, whatever size the
message or `getFile` declared. `finish_upload` is phase 2 of core's two-phase upload (the
download, then `store_upload` in a fresh unit of work). `PendingUploads` is the bot's
worker for files whose download was cut short (a crash, a restart, Telegram being down):
it takes over pending rows whose lease ran out, finishes them and tells the person.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.keyboards import complete_now
from bot.texts import e
from core.config import Settings
from core.db.session import Database
from core.errors import ByteSize, ErrorCode, IntrexError, PermissionDeniedError, ValidationError
from core.i18n import choose_language
from core.i18n.errors import render_error
from core.obligations import policy
from core.obligations.documents import (
    ALLOWED_TYPES,
    MAX_PENDING_ATTEMPTS,
    PendingFile,
    UploadLimits,
    UploadResult,
    claim_pending_uploads,
    drop_pending_upload,
    note_pending_failure,
    store_upload,
)
from core.storage import DocumentStorage
from core.tenancy.scope import Actor, ActorUnits

log = structlog.get_logger(__name__)

CHUNK = 64 * 1024


class DownloadUnavailableError(Exception):
    """Telegram could not hand the file over just now (network, 5xx): try again later."""


class TelegramFiles:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def fetch(self, file_id: str, max_bytes: int) -> bytes:
        """The file's bytes; refused as soon as more than `max_bytes` have arrived."""
        too_large = ValidationError(ErrorCode.document_over_limit, limit=ByteSize(max_bytes))
        try:
            file = await self.bot.get_file(file_id)
        except TelegramBadRequest as exc:
            if "too big" in exc.message:
                raise too_large from exc
            raise ValidationError(ErrorCode.document_unavailable) from exc
        except (TelegramNetworkError, TelegramAPIError) as exc:
            raise DownloadUnavailableError(str(exc)) from exc
        if file.file_size is not None and file.file_size > max_bytes:
            raise too_large
        if not file.file_path:
            raise ValidationError(ErrorCode.document_unavailable)
        url = self.bot.session.api.file_url(self.bot.token, file.file_path)
        received = bytearray()
        try:
            async for chunk in self.bot.session.stream_content(url, chunk_size=CHUNK):
                received += chunk
                if len(received) > max_bytes:
                    raise too_large
        except (TelegramNetworkError, TelegramAPIError, OSError) as exc:
            raise DownloadUnavailableError(str(exc)) from exc
        return bytes(received)


@dataclass(frozen=True)
class Stored:
    result: UploadResult
    may_complete: bool
    """Asked of the policy in the transaction that stored the file: offer "Complete now"?"""


async def finish_upload(
    units: ActorUnits,
    pending: PendingFile,
    files: TelegramFiles,
    storage: DocumentStorage,
    limits: UploadLimits,
) -> Stored:
    """Download, then store in a new unit of work; a refusal forgets the pending file."""
    try:
        data = await files.fetch(pending.file_id, limits.max_bytes)
        async with units() as (session, actor):
            result = await store_upload(session, actor, pending, data, storage, limits)
            return Stored(result, policy.can_complete(actor, result.obligation))
    except IntrexError:
        await drop_pending_upload(units.db, pending.id)
        raise


def stored_text(stored: Stored) -> str:
    result = stored.result
    kind = ALLOWED_TYPES[result.document.mime_type]
    if result.duplicate:
        return _("📎 This file is already attached to <b>{title}</b> (as “{name}”).").format(
            title=e(result.obligation.title), name=e(result.document.filename)
        )
    return _("📎 Stored “{name}” ({kind}) for <b>{title}</b>.").format(
        name=e(result.document.filename), kind=kind, title=e(result.obligation.title)
    )


class PendingUploads:
    """Finishes proof files whose download was abandoned; runs in the bot's process."""

    def __init__(
        self,
        bot: Bot,
        db: Database,
        settings: Settings,
        storage: DocumentStorage,
        i18n: I18n,
    ) -> None:
        self.bot = bot
        self.db = db
        self.settings = settings
        self.storage = storage
        self.i18n = i18n
        self.files = TelegramFiles(bot)
        self.limits = UploadLimits.from_settings(settings)
        self.interval_seconds = min(30.0, settings.upload_resume_seconds)
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Take over every abandoned pending file; how many were finished or given up."""
        handled = 0
        for pending in await claim_pending_uploads(
            self.db, lease=self.limits.resume_after, now=now
        ):
            handled += await self._finish(pending)
        return handled

    async def _finish(self, pending: PendingFile) -> int:
        units = ActorUnits(self.db, pending.tenant_id, pending.user_id)
        try:
            async with units() as (_session, actor):
                language = self._language(actor)
        except PermissionDeniedError:
            await drop_pending_upload(self.db, pending.id)
            return 1
        try:
            stored = await finish_upload(units, pending, self.files, self.storage, self.limits)
        except DownloadUnavailableError:
            if pending.attempts < MAX_PENDING_ATTEMPTS:
                await note_pending_failure(self.db, pending.id, "download_unavailable")
                return 0
            await drop_pending_upload(self.db, pending.id)
            await self._tell(
                pending,
                language,
                lambda: _(
                    "📎 I could not fetch “{name}” from Telegram. Please send it again."
                ).format(name=e(pending.filename)),
            )
            return 1
        except IntrexError as exc:
            refusal = e(render_error(exc, language))
            await self._tell(pending, language, lambda: refusal)
            return 1
        await self._tell(
            pending,
            language,
            lambda: stored_text(stored),
            lambda: complete_now(stored.result.obligation.id) if stored.may_complete else None,
        )
        return 1

    def _language(self, actor: Actor) -> str:
        return choose_language(
            actor.language, None, actor.tenant_language, self.settings.default_language
        ).value

    async def _tell(
        self,
        pending: PendingFile,
        language: str,
        text: Callable[[], str],
        markup: Callable[[], InlineKeyboardMarkup | None] = lambda: None,
    ) -> None:
        """Say it in the person's language (the worker runs outside any update, so the words
        are made inside the catalogue's context)."""
        with self.i18n.context(), self.i18n.use_locale(language):
            try:
                await self.bot.send_message(pending.chat_id, text(), reply_markup=markup())
            except TelegramAPIError:
                log.warning("could not tell about a finished upload", pending=str(pending.id))

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("pending uploads round failed")
            await asyncio.sleep(self.interval_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="intrex-pending-uploads")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
