"""/language: English or বাংলা, kept per person (SPEC §8)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import LanguageButton
from bot.keyboards import language_keyboard
from bot.middlewares import guard
from bot.replies import edit_or_answer
from core.i18n import Texts, texts_for
from core.i18n.labels import label
from core.tenancy.language import set_language
from core.tenancy.scope import Actor


async def choose(message: Message, texts: Texts) -> None:
    await message.answer(
        _("Choose your language. Now: {language}").format(language=label(texts, texts.language)),
        reply_markup=language_keyboard(texts),
    )


async def chosen(
    callback: CallbackQuery,
    callback_data: LanguageButton,
    session: AsyncSession,
    actor: Actor,
    i18n: I18n,
) -> None:
    language = await set_language(session, actor, callback_data.language)
    with i18n.use_locale(language.value):
        await edit_or_answer(
            callback,
            _("Language: {language}. /help shows what you can do.").format(
                language=label(texts_for(language), language)
            ),
        )
        await callback.answer()


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="language")
    guard(router)
    router.message.register(choose, Command("language"))
    router.callback_query.register(chosen, LanguageButton.filter())
    return router
