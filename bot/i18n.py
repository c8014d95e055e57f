"""aiogram's I18n over core's catalogues: the same compiled `.po`, one per language.

The reader's language is decided once per update by `ContextMiddleware` (SPEC §8: their
choice, their Telegram client's, the tenant's, `DEFAULT_LANGUAGE`) and put in the update's
data as `locale`; `LanguageMiddleware` only switches aiogram's context to it, so `_()` in a
handler speaks the reader's language, and `texts` (core's `Texts`) formats their dates.
"""

from __future__ import annotations

import gettext
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from aiogram.types import TelegramObject
from aiogram.utils.i18n import I18n, I18nMiddleware

from core.db.enums import Language
from core.i18n import LOCALES_DIR, SOURCE_LANGUAGE, catalogue


class CatalogueI18n(I18n):
    """Reads the catalogues core compiles in memory (no `.mo` files on disk)."""

    def __init__(self) -> None:
        super().__init__(path=LOCALES_DIR, default_locale=SOURCE_LANGUAGE.value, domain="messages")

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return {language.value: catalogue(language) for language in Language}

    @contextmanager
    def context(self) -> Generator[I18n, None, None]:
        """Current as *I18n*: aiogram's `gettext` looks the instance up on the base class's
        context variable, which a subclass's own `set_current` would not set."""
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)


class LanguageMiddleware(I18nMiddleware):
    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        return str(data.get("locale") or self.i18n.default_locale)
