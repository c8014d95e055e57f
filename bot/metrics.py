"""Counting and timing every update (outcome only: no user text, no ids in labels)."""

from __future__ import annotations

import time
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from bot.middlewares import Handler
from core.metrics import UPDATE_SECONDS, UPDATES


class MetricsMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            result = await handler(event, data)
        except Exception:
            UPDATES.labels("error").inc()
            raise
        finally:
            UPDATE_SECONDS.observe(time.perf_counter() - started)
        UPDATES.labels("handled").inc()
        return result
