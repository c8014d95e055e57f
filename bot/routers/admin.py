"""/invite (head office) and /digest (everyone)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.middlewares import LinkedOnlyMiddleware
from bot.replies import refuse
from bot.texts import e, local_time, with_article
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import IntrexError
from core.notify.digest import digest_for
from core.tenancy.models import Tenant, User
from core.tenancy.service import create_invite, parse_role


async def invite(
    message: Message, command: CommandObject, db: Database, user: User, tenant: Tenant, bot: Bot
) -> None:
    if user.role is not AppRole.head_office_admin:
        await refuse(message, "Only head office can invite people.")
        return
    parts = (command.args or "").split()
    if not 1 <= len(parts) <= 2:
        await refuse(
            message,
            "Usage: /invite ROLE [BRANCH_CODE] — "
            "roles: head_office_admin, branch_manager, operator",
        )
        return
    try:
        issued = await create_invite(
            db,
            tenant,
            role=parse_role(parts[0]),
            branch_code=parts[1] if len(parts) == 2 else None,
            created_by_user_id=user.id,
        )
    except IntrexError as exc:
        await refuse(message, exc.message)
        return
    me = await bot.me()
    role = issued.invite.role.value
    branch = f" of {e(issued.branch_code)}" if issued.branch_code else ""
    await message.answer(
        f"Invite for {e(with_article(role))}{branch}, single use, valid until "
        f"{local_time(issued.invite.expires_at, tenant.timezone)}:\n"
        f"{issued.deep_link(me.username)}\n"
        f"or send <code>/start {e(issued.code)}</code> to this bot."
    )


async def digest(message: Message, db: Database, user: User) -> None:
    try:
        summary = await digest_for(db, user)
    except IntrexError as exc:
        await refuse(message, exc.message)
        return
    await message.answer(f"<b>Digest for {summary.today:%d %b %Y}</b>\n{e(summary.text())}")


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="admin")
    router.message.middleware(LinkedOnlyMiddleware())
    router.message.register(invite, Command("invite"))
    router.message.register(digest, Command("digest"))
    return router
