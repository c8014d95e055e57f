"""aiogram FSM storage in PostgreSQL (through `core.chat`), shared by restarts and replicas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)

from core.chat.state import ChatStateStore
from core.db.session import Database


class PostgresStorage(BaseStorage):
    def __init__(self, db: Database, key_builder: KeyBuilder | None = None) -> None:
        self._store = ChatStateStore(db)
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._store.set_state(self._keys.build(key, "state"), value)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._store.get(self._keys.build(key, "state"))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._store.set_data(self._keys.build(key, "data"), dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._store.get(self._keys.build(key, "data"))
        return data

    async def close(self) -> None:
        return None
