"""Everything a chat update needs to know before its handler runs, in one statement.

Who the Telegram user is (user and tenant, or nobody) and what their conversation is
waiting for, read together on the system path as one statement: one round trip per update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, func, inspect, literal, select

from core.chat.models import ChatState
from core.db.session import Database
from core.tenancy.models import Tenant, User


@dataclass(frozen=True)
class ChatContext:
    user: User | None
    tenant: Tenant | None
    states: dict[str, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)
    """Conversation rows found, by storage key (keys not found are absent)."""


Entity = TypeVar("Entity", User, Tenant)


def _fields(entity: type[Entity]) -> list[str]:
    return [attribute.key for attribute in inspect(entity).column_attrs]


USER_FIELDS, TENANT_FIELDS = _fields(User), _fields(Tenant)


def _context_query() -> Any:
    conversation = (
        select(
            func.jsonb_object_agg(
                ChatState.key, func.jsonb_build_array(ChatState.state, ChatState.data)
            )
        )
        .where(ChatState.key.in_(bindparam("state_keys", expanding=True)))
        .scalar_subquery()
    )
    return (
        select(
            *(getattr(User, key).label(f"user_{key}") for key in USER_FIELDS),
            *(getattr(Tenant, key).label(f"tenant_{key}") for key in TENANT_FIELDS),
            conversation.label("states"),
        )
        .select_from(select(literal(1).label("one")).subquery())
        .outerjoin(
            User,
            and_(User.telegram_user_id == bindparam("telegram_user_id"), User.status == "active"),
        )
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
    )


CONTEXT_QUERY = _context_query()
"""Built once: every chat update runs it, so only its parameters change."""


def _build(entity: type[Entity], fields: list[str], row: Any, prefix: str) -> Entity | None:
    values = {key: row[f"{prefix}{key}"] for key in fields}
    return None if values["id"] is None else entity(**values)


async def load_chat_context(
    db: Database, telegram_user_id: int | None, state_keys: list[str]
) -> ChatContext:
    """The context of one update; `user` and `tenant` are detached copies, read-only for handlers.

    Read as plain columns on the driver (`Database.system_fetch`): the cheapest way to
    answer the one question every update asks.
    """
    parameters = {"telegram_user_id": telegram_user_id, "state_keys": state_keys or [""]}
    [row] = await db.system_fetch(CONTEXT_QUERY, parameters)
    states = row["states"] or {}  # jsonb arrives decoded: the dialect sets asyncpg's codec
    return ChatContext(
        user=_build(User, USER_FIELDS, row, "user_"),
        tenant=_build(Tenant, TENANT_FIELDS, row, "tenant_"),
        states={key: (value[0], dict(value[1] or {})) for key, value in states.items()},
    )
