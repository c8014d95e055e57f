"""Everything a chat update needs to know before its handler runs, in one statement.

Who the Telegram user is (user and tenant, or nobody) and what their conversation is
waiting for, read together on the system path instead of in a transaction each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, literal, select, true

from core.chat.models import ChatState
from core.db.session import Database
from core.tenancy.models import Tenant, User


@dataclass(frozen=True)
class ChatContext:
    user: User | None
    tenant: Tenant | None
    states: dict[str, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)
    """Conversation rows found, by storage key (keys not found are absent)."""


async def load_chat_context(
    db: Database, telegram_user_id: int | None, state_keys: list[str]
) -> ChatContext:
    conversation = (
        select(
            func.jsonb_object_agg(
                ChatState.key, func.jsonb_build_array(ChatState.state, ChatState.data)
            )
        )
        .where(ChatState.key.in_(state_keys or [""]))
        .scalar_subquery()
    )
    query = (
        select(User, Tenant, conversation)
        .select_from(select(literal(1).label("one")).subquery())
        .outerjoin(
            User,
            and_(User.telegram_user_id == telegram_user_id, User.status == "active")
            if telegram_user_id is not None
            else ~true(),
        )
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
    )
    async with db.system_uow() as session:
        user, tenant, states = (await session.execute(query)).one()
    return ChatContext(
        user=user,
        tenant=tenant,
        states={key: (value[0], dict(value[1] or {})) for key, value in (states or {}).items()},
    )
