"""The one place a failed update is answered: every update and every press gets a reply.

A refusal from core (`IntrexError`: a code and its parameters) is worded in the reader's
language from the catalogue; anything else (a bug, a lost database connection) tells the
person "something went wrong, try again" and goes to the log once, with its traceback
(a database error without its parameters or the driver's message, which may quote one).
A button press is answered as a pop-up; if it was answered already, the words come as a
message instead.
"""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import gettext as _
from sqlalchemy.exc import StatementError

from bot.texts import POPUP_LIMIT, clip, e
from core.errors import IntrexError
from core.i18n.errors import SOMETHING_WENT_WRONG, render_error
from core.tenancy.models import Tenant

log = structlog.get_logger(__name__)


async def tell(bot: Bot, update: Update, text: str) -> None:
    """`text` (plain, unescaped) to whoever sent the update, however it came."""
    try:
        if update.callback_query is not None:
            query = update.callback_query
            try:
                await bot.answer_callback_query(
                    query.id, text=clip(text, POPUP_LIMIT), show_alert=True
                )
                return
            except TelegramAPIError:
                await bot.send_message(query.from_user.id, e(clip(text, 3000)))
                return
        message = update.message or update.edited_message
        if message is not None:
            await bot.send_message(message.chat.id, e(clip(text, 3000)))
    except TelegramAPIError:
        log.warning("could not answer a failed update", update_id=update.update_id)


async def refused(
    event: ErrorEvent, bot: Bot, locale: str = "en", tenant: Tenant | None = None
) -> None:
    assert isinstance(event.exception, IntrexError)
    timezone = tenant.timezone if tenant is not None else "UTC"
    await tell(bot, event.update, render_error(event.exception, locale, timezone))


class DatabaseFailure(Exception):
    """A database error as it is logged: the statement and the driver's error class, with
    the original traceback, but none of the driver's message (it can quote a parameter)."""


def loggable(error: BaseException) -> BaseException:
    """`error` fit for the log: SQL errors lose their parameters and the driver's text."""
    if isinstance(error, StatementError):
        cause = type(error.orig).__name__ if error.orig is not None else type(error).__name__
        clean = DatabaseFailure(f"{cause} in: {error.statement}")
        clean.__traceback__ = error.__traceback__
        return clean
    return error


async def crashed(event: ErrorEvent, bot: Bot) -> None:
    error = loggable(event.exception)
    log.error(
        "update failed",
        update_id=event.update.update_id,
        exc_info=(type(error), error, error.__traceback__),
    )
    await tell(bot, event.update, _(SOMETHING_WENT_WRONG))


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(refused, ExceptionTypeFilter(IntrexError))
    router.errors.register(crashed)
    return router
