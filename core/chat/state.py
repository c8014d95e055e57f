"""Reading and writing conversation state on the system path (upserts, one statement each).

Each is a single statement, so each runs as its own transaction: one round trip.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from core.chat.models import ChatState
from core.db.session import Database


class ChatStateStore:
    """Get and set a conversation's state and data by key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_state(self, key: str, state: str | None) -> None:
        await self._upsert(key, {"state": state})

    async def set_data(self, key: str, data: dict[str, Any]) -> None:
        await self._upsert(key, {"data": data})

    async def clear(self, keys: list[str]) -> None:
        """Forget these conversations (a person disabled mid-conversation)."""
        await self.db.system_execute(delete(ChatState).where(ChatState.key.in_(keys)))

    async def get(self, key: str) -> tuple[str | None, dict[str, Any]]:
        query = select(ChatState.state, ChatState.data).where(ChatState.key == key)
        row = (await self.db.system_execute(query)).first()
        if row is None:
            return None, {}
        return row.state, dict(row.data or {})

    async def _upsert(self, key: str, values: dict[str, Any]) -> None:
        statement = insert(ChatState).values(key=key, **values)
        statement = statement.on_conflict_do_update(
            index_elements=[ChatState.key], set_={**values, "updated_at": func.now()}
        )
        await self.db.system_execute(statement)
