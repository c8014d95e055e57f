"""How a person is named on every surface and in the audit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.models import User


class Named(Protocol):
    """What naming a person reads: a `User` row fits."""

    @property
    def id(self) -> int: ...

    @property
    def full_name(self) -> str | None: ...

    @property
    def telegram_name(self) -> str | None: ...

    @property
    def telegram_username(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


def person_name(
    full_name: str | None,
    telegram_name: str | None,
    telegram_username: str | None,
    email: str | None,
    user_id: int | None,
) -> str:
    """Who someone is, as people recognise them: "Karim Ahmed (@karim_dhk)", never "User 4".

    The name head office gave them, else their Telegram name, else their email; their
    Telegram @username beside it when they have one; `#id` when nothing else is known.
    """
    base = full_name or telegram_name or email
    if telegram_username:
        return f"{base} (@{telegram_username})" if base else f"@{telegram_username}"
    return base or f"#{user_id}"


def user_name(user: Named) -> str:
    """`person_name` of a user row."""
    return person_name(
        user.full_name, user.telegram_name, user.telegram_username, user.email, user.id
    )


async def names_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """`user_name` of each of these users that the session can see, by id (one query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    users = await session.scalars(select(User).where(User.id.in_(wanted)))
    return {user.id: user_name(user) for user in users}
