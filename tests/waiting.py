"""Waiting for something another process does (there is no event to wait on across processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float, every: float = 0.25
) -> bool:
    """True as soon as `check` holds; False if it still does not after `seconds`."""
    for _ in range(max(1, round(seconds / every))):
        if await check():
            return True
        await asyncio.sleep(every)
    return await check()
