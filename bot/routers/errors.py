"""The one place a failed update is answered: every update and every press gets a reply.

A refusal from core (`IntrexError`: a code and its parameters) is worded in the reader's
language from the catalogue; anything else (a bug, a lost database connection) tells the
person "something went wrong, try again" and goes to the log once, with its traceback
(the engines hide SQL parameters, so no row data is logged). A button press is answered
as a pop-up; if it was answered already, the words come as a message instead.
"""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import gettext as _

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


async def crashed(event: ErrorEvent, bot: Bot) -> None:
    log.error(
        "update failed",
        update_id=event.update.update_id,
        exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
    )
    await tell(bot, event.update, _(SOMETHING_WENT_WRONG))


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(refused, ExceptionTypeFilter(IntrexError))
    router.errors.register(crashed)
    return router
