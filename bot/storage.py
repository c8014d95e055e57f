"""aiogram FSM storage in PostgreSQL (through `core.chat`), shared by restarts and replicas.

Reads first look at what `ContextMiddleware` loaded for the current update (the same query
that found the user), so a plain update costs no extra round trip; writes go through and
keep that view current.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
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

Loaded = dict[str, tuple[str | None, dict[str, Any]]]

_loaded: ContextVar[Loaded | None] = ContextVar("intrex_chat_states", default=None)


class PostgresStorage(BaseStorage):
    def __init__(self, db: Database, key_builder: KeyBuilder | None = None) -> None:
        self._store = ChatStateStore(db)
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    def keys_for(self, key: StorageKey) -> tuple[str, str]:
        return self._keys.build(key, "state"), self._keys.build(key, "data")

    @staticmethod
    def prime(loaded: Loaded, keys: tuple[str, str]) -> None:
        """What this update already knows: rows found, and absent keys as empty."""
        view: Loaded = {key: (None, {}) for key in keys}
        view.update(loaded)
        _loaded.set(view)

    @staticmethod
    def forget(keys: tuple[str, ...]) -> None:
        """This update's view after the rows were deleted elsewhere (in core's transaction)."""
        view = _loaded.get()
        if view is not None:
            for key in keys:
                view[key] = (None, {})

    async def clear(self, keys: tuple[str, ...]) -> None:
        """Delete these conversation rows now, and forget them in this update's view."""
        await self._store.clear(list(keys))
        self.forget(keys)

    async def _get(self, key: str) -> tuple[str | None, dict[str, Any]]:
        view = _loaded.get()
        if view is not None and key in view:
            return view[key]
        return await self._store.get(key)

    def _remember(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        view = _loaded.get()
        if view is not None:
            view[key] = (state, data)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        built = self._keys.build(key, "state")
        await self._store.set_state(built, value)
        self._remember(built, value, {})

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._get(self._keys.build(key, "state"))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        built = self._keys.build(key, "data")
        await self._store.set_data(built, dict(data))
        self._remember(built, None, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._get(self._keys.build(key, "data"))
        return dict(data)

    async def close(self) -> None:
        return None
