"""/digest: the summary the daily digest sends, on demand (everyone)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import guard
from bot.texts import e, fit_lines
from core.digest.service import digest_for
from core.i18n import Texts
from core.notify.render import digest_lines
from core.tenancy.scope import Actor


async def digest(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    summary = await digest_for(session, actor)
    title = _("<b>Digest for {date}</b>").format(date=texts.date(summary.today))
    body = [e(line) for line in digest_lines(texts, summary.as_payload())]
    await message.answer(fit_lines([title, *body]))


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="admin")
    guard(router)
    router.message.register(digest, Command("digest"))
    return router
