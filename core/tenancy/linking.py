"""The chat side of a person: wrong `/start` codes, and their Telegram identity.

Wrong codes: at most so many a minute per chat, then a polite wait. Invite codes carry 144
random bits, so guessing is hopeless anyway; the limit keeps a script from hammering the
redeem path (a hash lookup per try) and tells a person who mistypes repeatedly to slow
down. Counted on the system path: the chat has no tenant yet.

Identity: the name and @username on a linked person's Telegram account change; they are
refreshed from their updates (with when they were last seen) so `/users` and the audit
show who someone is, at most once a minute per person unless something changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from core.chat.models import LinkAttempt
from core.clock import utc_now
from core.db.session import Database
from core.errors import ErrorCode, RateLimitedError
from core.tenancy.models import User

WINDOW = timedelta(minutes=1)
SEEN_EVERY = timedelta(minutes=1)
"""How stale `last_seen_at` may get before an update writes it again."""


async def check_start_allowed(
    db: Database, chat_id: int, per_minute: int, *, now: datetime | None = None
) -> None:
    """Refuse (with the seconds to wait) when the chat's failures of the last minute are used up."""
    moment = utc_now(now)
    query = select(func.count(), func.min(LinkAttempt.attempted_at)).where(
        LinkAttempt.chat_id == chat_id, LinkAttempt.attempted_at > moment - WINDOW
    )
    row: Any = (await db.system_execute(query)).one()
    count, oldest = row[0], row[1]
    if count >= per_minute and oldest is not None:
        wait = max(1, int((oldest + WINDOW - moment).total_seconds()) + 1)
        raise RateLimitedError(ErrorCode.start_rate_limited, seconds=wait)


async def record_failed_start(db: Database, chat_id: int, *, now: datetime | None = None) -> None:
    """Count one wrong code, and forget this chat's attempts older than the window."""
    moment = utc_now(now)
    async with db.system_uow() as session:
        await session.execute(
            delete(LinkAttempt).where(
                LinkAttempt.chat_id == chat_id, LinkAttempt.attempted_at <= moment - WINDOW
            )
        )
        await session.execute(insert(LinkAttempt).values(chat_id=chat_id, attempted_at=moment))


def identity_stale(
    user: User, username: str | None, name: str | None, *, now: datetime | None = None
) -> bool:
    """Whether this update should write the person's Telegram identity and last seen."""
    if user.telegram_username != username or user.telegram_name != name:
        return True
    return user.last_seen_at is None or user.last_seen_at <= utc_now(now) - SEEN_EVERY


async def refresh_identity(
    db: Database,
    user_id: int,
    username: str | None,
    name: str | None,
    *,
    now: datetime | None = None,
) -> None:
    """Store the name and @username Telegram shows for this person, and that they were here."""
    await db.system_execute(
        update(User)
        .where(User.id == user_id)
        .values(telegram_username=username, telegram_name=name, last_seen_at=utc_now(now))
    )
