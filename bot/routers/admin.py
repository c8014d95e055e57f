"""/invite (head office) and /digest (everyone)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import guard
from bot.texts import e, fit_lines
from core.db.session import Database
from core.digest.service import digest_for
from core.errors import ErrorCode, PermissionDeniedError, ValidationError
from core.i18n import Texts
from core.i18n.labels import label
from core.notify.render import digest_lines
from core.tenancy import policy
from core.tenancy.models import Tenant
from core.tenancy.scope import Actor
from core.tenancy.service import create_invite, parse_role

USAGE_INVITE = "/invite ROLE [BRANCH_CODE] (head_office_admin, branch_manager, operator)"


async def invite(
    message: Message,
    command: CommandObject,
    db: Database,
    actor: Actor,
    tenant: Tenant,
    texts: Texts,
    bot: Bot,
) -> None:
    if not policy.can_invite(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    parts = (command.args or "").split()
    if not 1 <= len(parts) <= 2:
        raise ValidationError(ErrorCode.usage, usage=USAGE_INVITE)
    issued = await create_invite(
        db,
        tenant,
        role=parse_role(parts[0]),
        branch_code=parts[1] if len(parts) == 2 else None,
        created_by_user_id=actor.user_id,
    )
    me = await bot.me()
    role = label(texts, issued.invite.role)
    until = texts.moment(issued.invite.expires_at, actor.timezone)
    lines = [
        _("Invite for a {role} of {branch}, single use, valid until {moment}:").format(
            role=role, branch=e(issued.branch_code), moment=until
        )
        if issued.branch_code
        else _("Invite for a {role}, single use, valid until {moment}:").format(
            role=role, moment=until
        ),
        issued.deep_link(me.username),
        _("or send <code>/start {code}</code> to this bot.").format(code=e(issued.code)),
    ]
    await message.answer("\n".join(lines))


async def digest(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    summary = await digest_for(session, actor)
    title = _("<b>Digest for {date}</b>").format(date=texts.date(summary.today))
    body = [e(line) for line in digest_lines(texts, summary.as_payload())]
    await message.answer(fit_lines([title, *body]))


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="admin")
    guard(router)
    router.message.register(invite, Command("invite"))
    router.message.register(digest, Command("digest"))
    return router
