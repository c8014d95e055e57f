"""/start (with an invite code or deep link) and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import guard, not_linked_text
from bot.texts import e, help_text
from core.config import Settings
from core.db.session import Database
from core.errors import IntrexError
from core.tenancy.invites import TelegramIdentity, redeem_invite
from core.tenancy.linking import check_start_allowed, record_failed_start
from core.tenancy.members import membership
from core.tenancy.models import Tenant, User
from core.tenancy.scope import Actor, ActorUnits


async def start(
    message: Message,
    command: CommandObject,
    db: Database,
    settings: Settings,
    user: User | None,
    tenant: Tenant | None,
) -> None:
    code = (command.args or "").strip()
    sender = message.from_user
    if user is not None and tenant is not None:
        async with ActorUnits(db, tenant.id, user.id)() as (session, actor):
            member = await membership(session, actor)
        prefix = _("This Telegram account is already linked.") + "\n\n" if code else ""
        await message.answer(prefix + help_text(member))
        return
    if not code or sender is None:
        await message.answer(not_linked_text())
        return
    await check_start_allowed(db, message.chat.id, settings.start_attempts_per_minute)
    try:
        linked = await redeem_invite(
            db,
            code,
            TelegramIdentity(
                user_id=sender.id, username=sender.username, full_name=sender.full_name
            ),
        )
    except IntrexError:
        await record_failed_start(db, message.chat.id)
        raise
    async with ActorUnits(db, linked.tenant_id, linked.id)() as (session, actor):
        member = await membership(session, actor)
    await message.answer(
        _("✅ Linked to {company}!").format(company=e(member.tenant_name))
        + "\n\n"
        + help_text(member)
    )


async def show_help(message: Message, session: AsyncSession, actor: Actor) -> None:
    await message.answer(help_text(await membership(session, actor)))


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="linking")
    router.message.register(start, CommandStart())
    help_router = Router(name="help")
    guard(help_router)
    help_router.message.register(show_help, Command("help"))
    router.include_router(help_router)
    return router
