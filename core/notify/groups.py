"""Telegram groups linked to a branch (`/linkgroup`): routes name them `group:CODE`.

A head office admin links a group from inside it; the group then receives the alerts its
routes send to `group:CODE`, and members who are linked users with that branch in scope
acknowledge there (the notify policy decides, as for any copy). Unlinking, or the bot
being removed from the group or losing the right to post, ends the link; nothing is
deleted, and every change is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record_update, snapshot
from core.clock import utc_now
from core.db.enums import BranchStatus
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError, ValidationError
from core.notify.models import BranchGroup
from core.tenancy import policy
from core.tenancy.models import Branch
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

ACTIVE = "active"
REMOVED = "removed"


async def link_group(
    session: AsyncSession, actor: Actor, chat_id: int, title: str | None, branch_code: str
) -> tuple[BranchGroup, str | None]:
    """Link this group to the branch; returns the link and the branch it was linked to
    before (a group belongs to one branch at a time), if another."""
    if not policy.can_manage_branches(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    code = normalise_branch_code(branch_code)
    branch = await session.scalar(select(Branch).where(Branch.code == code))
    if branch is None:
        raise NotFoundError(ErrorCode.branch_not_found, code=code)
    if branch.status != BranchStatus.active.value:
        raise ValidationError(ErrorCode.branch_inactive, code=code)
    current = await session.scalar(
        select(BranchGroup)
        .where(BranchGroup.chat_id == chat_id, BranchGroup.status == ACTIVE)
        .with_for_update()
    )
    previous: str | None = None
    if current is not None:
        if current.branch_id == branch.id:
            return current, None
        previous = await session.scalar(select(Branch.code).where(Branch.id == current.branch_id))
        await _end(session, actor, current)
    group = BranchGroup(
        tenant_id=actor.tenant_id,
        branch_id=branch.id,
        chat_id=chat_id,
        title=(title or "")[:255] or None,
        linked_by_user_id=actor.user_id,
    )
    await add_recorded(
        session,
        group,
        tenant_id=actor.tenant_id,
        action="group.link",
        entity_type="branch_group",
        user_id=actor.user_id,
    )
    return group, previous


async def unlink_group(session: AsyncSession, actor: Actor, chat_id: int) -> str:
    """End this group's link; the code of the branch it was linked to."""
    if not policy.can_manage_branches(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    current = await session.scalar(
        select(BranchGroup)
        .where(BranchGroup.chat_id == chat_id, BranchGroup.status == ACTIVE)
        .with_for_update()
    )
    if current is None:
        raise NotFoundError(ErrorCode.group_not_linked)
    code = await session.scalar(select(Branch.code).where(Branch.id == current.branch_id))
    await _end(session, actor, current)
    return code or ""


async def _end(
    session: AsyncSession, actor: Actor | None, group: BranchGroup, *, now: datetime | None = None
) -> None:
    before = snapshot(group)
    group.status = REMOVED
    group.removed_at = utc_now(now)
    await record_update(
        session,
        group,
        before,
        tenant_id=group.tenant_id,
        action="group.unlink",
        entity_type="branch_group",
        user_id=actor.user_id if actor else None,
    )


async def group_gone(db: Database, chat_id: int, *, now: datetime | None = None) -> int:
    """The bot was removed from the group or may no longer post there: its links end.

    On the system path (nobody acts: Telegram tells), with the audit written per tenant.
    """
    async with db.system_uow() as session:
        groups = list(
            await session.scalars(
                select(BranchGroup)
                .where(BranchGroup.chat_id == chat_id, BranchGroup.status == ACTIVE)
                .with_for_update()
            )
        )
        for group in groups:
            await _end(session, None, group, now=now)
    return len(groups)


async def group_moved(db: Database, old_chat_id: int, new_chat_id: int) -> None:
    """A group that became a supergroup has a new chat id: its links follow."""
    async with db.system_uow() as session:
        await session.execute(
            update(BranchGroup)
            .where(BranchGroup.chat_id == old_chat_id, BranchGroup.status == ACTIVE)
            .values(chat_id=new_chat_id)
        )
