"""Telegram groups of a branch: `/linkgroup CODE`, `/unlinkgroup`, and the bot's own
membership (added, removed, muted, the group upgraded to a supergroup).

Only these commands and the Acknowledge button work in a group (flagged `GROUP`); anything
else there is answered with a pointer to the private chat, so nobody's obligations are
shown to a whole group.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import GROUP, guard
from bot.texts import e
from core.db.session import Database
from core.errors import ErrorCode, ValidationError
from core.notify.groups import group_gone, group_moved, link_group, unlink_group
from core.tenancy.scope import Actor

GROUP_CHATS = {"group", "supergroup"}
GONE = {"left", "kicked"}
USAGE_LINK = "/linkgroup BRANCH_CODE"


async def linkgroup(
    message: Message, command: CommandObject, session: AsyncSession, actor: Actor
) -> None:
    if message.chat.type not in GROUP_CHATS:
        raise ValidationError(ErrorCode.group_only)
    code = (command.args or "").strip()
    if not code or len(code.split()) != 1:
        raise ValidationError(ErrorCode.usage, usage=USAGE_LINK)
    previous = (await link_group(session, actor, message.chat.id, message.chat.title, code))[1]
    branch = code.upper()
    if previous:
        await message.answer(
            _("✅ This group now gets the alerts of {branch} (instead of {previous}).").format(
                branch=e(branch), previous=e(previous)
            )
        )
        return
    await message.answer(
        _(
            "✅ This group gets the alerts of {branch} that routes send to group:{branch}. "
            "Linked members of the branch can acknowledge here."
        ).format(branch=e(branch))
    )


async def unlinkgroup(message: Message, session: AsyncSession, actor: Actor) -> None:
    if message.chat.type not in GROUP_CHATS:
        raise ValidationError(ErrorCode.group_only)
    code = await unlink_group(session, actor, message.chat.id)
    await message.answer(
        _("This group no longer gets the alerts of {branch}.").format(branch=e(code))
    )


async def membership_changed(event: ChatMemberUpdated, db: Database) -> None:
    """The bot's own membership of a group: removed or muted ends its links; added, it
    says how to link the group."""
    if event.chat.type not in GROUP_CHATS:
        return
    member = event.new_chat_member
    muted = member.status == "restricted" and not getattr(member, "can_send_messages", True)
    if member.status in GONE or muted:
        await group_gone(db, event.chat.id)
        return
    if event.old_chat_member.status in GONE and member.status in {"member", "administrator"}:
        await event.answer(
            _("Hello! A head office admin can link this group to a branch: {usage}").format(
                usage=e(USAGE_LINK)
            )
        )


async def migrated(message: Message, db: Database) -> None:
    """A group upgraded to a supergroup: the links follow its new chat id."""
    if message.migrate_to_chat_id is not None:
        await group_moved(db, message.chat.id, message.migrate_to_chat_id)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="groups")
    router.my_chat_member.register(membership_changed)
    router.message.register(migrated, F.migrate_to_chat_id)
    commands = Router(name="group-commands")
    guard(commands)
    commands.message.register(linkgroup, Command("linkgroup"), flags={GROUP: True})
    commands.message.register(unlinkgroup, Command("unlinkgroup"), flags={GROUP: True})
    router.include_router(commands)
    return router
