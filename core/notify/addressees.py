"""Who a delivery step reaches, in words, for the people who run Intrex.

`intrex notify test` and `intrex notify dead-letters` name each step's recipient as people
know them and by the channel it goes through: "Karim Ahmed (@karim_dhk) on Telegram 'tg'",
"ops@x.example by email 'mail'", "webhook 'hook'". A reference that is resolved only when
its step is due (`role:ROLE`, `owner`, `group:CODE`, SPEC §4) is said as what it means:
"every linked branch manager of DHK-01". These are operator words (the command line is in
English), not alert texts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.enums import AppRole, ConnectorType, Language, UserStatus
from core.i18n import texts_for
from core.i18n.labels import label
from core.notify.models import BranchGroup
from core.notify.recipients import CHAT_PREFIX, GROUP_PREFIX, OWNER, ROLE_PREFIX, USER_PREFIX
from core.tenancy.models import Branch, User
from core.tenancy.names import user_name

CHANNEL_WORDS = {
    ConnectorType.telegram_bot: "on Telegram '{name}'",
    ConnectorType.email_smtp: "by email '{name}'",
    ConnectorType.whatsapp_business: "on WhatsApp '{name}'",
    ConnectorType.webhook: "webhook '{name}'",
}


@dataclass(frozen=True)
class Addressed:
    """One step to name: its tenant, recipient reference, connector, and the event's branch."""

    tenant_id: uuid.UUID
    recipient_ref: str
    connector_name: str
    connector_type: ConnectorType
    branch_code: str | None


def _user_id(ref: str) -> int | None:
    rest = ref.removeprefix(USER_PREFIX)
    return int(rest) if ref.startswith(USER_PREFIX) and rest.isdigit() else None


def _chat_id(ref: str) -> int | None:
    rest = ref.removeprefix(CHAT_PREFIX)
    return int(rest) if ref.startswith(CHAT_PREFIX) and rest.lstrip("-").isdigit() else None


def _role_words(ref: str, branch_code: str | None) -> str:
    try:
        role = AppRole(ref.removeprefix(ROLE_PREFIX))
    except ValueError:
        return ref
    english = texts_for(Language.en)
    if role.head_office:
        return f"every linked {label(english, role)}"
    if branch_code is None:
        admins = label(english, AppRole.head_office_admin)
        return f"every linked {admins} (the alert belongs to no branch)"
    return f"every linked {label(english, role)} of {branch_code}"


def _person(user: User, connector_type: ConnectorType, *, by_address: bool) -> str:
    name = user_name(user)
    if by_address and user.email and user.email.lower() not in name.lower():
        name = f"{name} <{user.email}>"
    if user.status == UserStatus.disabled.value:
        return f"{name} (disabled)"
    if connector_type is ConnectorType.telegram_bot and user.telegram_user_id is None:
        return f"{name} (not linked to Telegram yet)"
    return name


async def name_recipients(session: AsyncSession, steps: Sequence[Addressed]) -> list[str]:
    """Each step's recipient and channel in words, in order (one query per kind of reference)."""
    ids = {user_id for step in steps if (user_id := _user_id(step.recipient_ref)) is not None}
    emails = {step.recipient_ref.strip().lower() for step in steps if "@" in step.recipient_ref}
    chats = {chat for step in steps if (chat := _chat_id(step.recipient_ref)) is not None}
    by_id: dict[int, User] = {}
    by_email: dict[tuple[uuid.UUID, str], User] = {}
    groups: dict[tuple[uuid.UUID, int], tuple[str | None, str]] = {}
    if ids:
        people = await session.scalars(select(User).where(User.id.in_(ids)))
        by_id = {user.id: user for user in people}
    if emails:
        found = await session.scalars(select(User).where(func.lower(User.email).in_(emails)))
        by_email = {(user.tenant_id, (user.email or "").lower()): user for user in found}
    if chats:
        rows = await session.execute(
            select(BranchGroup.tenant_id, BranchGroup.chat_id, BranchGroup.title, Branch.code)
            .join(Branch, Branch.id == BranchGroup.branch_id)
            .where(BranchGroup.chat_id.in_(chats))
            .order_by(BranchGroup.created_at)
        )
        groups = {(tenant, chat): (title, code) for tenant, chat, title, code in rows}
    words = []
    for step in steps:
        ref = step.recipient_ref.strip()
        who: str | None
        if ref in ("", "-"):
            who = None
        elif (user_id := _user_id(ref)) is not None:
            user = by_id.get(user_id)
            found_user = user if user is not None and user.tenant_id == step.tenant_id else None
            who = (
                _person(found_user, step.connector_type, by_address=False)
                if found_user is not None
                else f"user #{user_id} (no longer exists)"
            )
        elif (chat := _chat_id(ref)) is not None:
            group = groups.get((step.tenant_id, chat))
            if group is None:
                who = f"Telegram chat {chat}"
            else:
                title, code = group
                who = f"the Telegram group '{title}' of {code}" if title else f"a group of {code}"
        elif ref.startswith(ROLE_PREFIX):
            who = _role_words(ref, step.branch_code)
        elif ref == OWNER:
            where = f" in {step.branch_code}" if step.branch_code else ""
            who = f"the obligation's owner{where}"
        elif ref.startswith(GROUP_PREFIX):
            who = f"every Telegram group linked to {ref.removeprefix(GROUP_PREFIX)}"
        elif "@" in ref:
            user = by_email.get((step.tenant_id, ref.lower()))
            mailed = step.connector_type is ConnectorType.email_smtp
            if user is not None:
                who = _person(user, step.connector_type, by_address=mailed)
            else:
                who = ref if mailed else f"{ref} (no user has this email)"
        else:
            who = ref
        channel = CHANNEL_WORDS.get(step.connector_type, "through '{name}'").format(
            name=step.connector_name
        )
        words.append(f"{who} {channel}" if who else channel)
    return words
