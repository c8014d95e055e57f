"""Telegram's limits, kept by all replicas together: token buckets in PostgreSQL.

Telegram lets one bot token send about 30 messages a second in all and about 20 a minute
to one group (SPEC §4); a replica that kept its own count would let N replicas send N
times that. So the budget lives in `rate_buckets` (system path), one row per bucket:
`telegram:<bot id>` for the token and `telegram:<bot id>:chat:<chat id>` for each chat,
each holding the tokens left at `refilled_at`.

Taking tokens is one statement per bucket kind (`TAKE_SQL`): refill each row by the time
passed since `refilled_at` (on PostgreSQL's clock, the one clock every replica shares),
capped at the bucket's capacity, then take what was asked for. The level may go below
zero: a take is a reservation, and the row says how far ahead the budget is already
promised. From the level the statement returns, the taker knows when each of its tokens
becomes usable (token k of n, counting from 0, after (k + 1 - level) / rate seconds), so
a worker takes the tokens of a whole batch at once and sends each message at its moment;
no two replicas can hand out the same moment, because the row is locked while it changes.
Tokens a worker will not use soon (a message whose moment is further off than it is
willing to wait) are given back, and the message is deferred to that moment.

The buckets are shaped so that the limits hold over any window, not only on average:

- per token: `TELEGRAM_MAX_PER_SECOND` a second, with a burst of a tenth of that;
- per chat: at most `TELEGRAM_MAX_PER_CHAT_PER_MINUTE` in any 60 seconds: a burst of a
  quarter of it, the rest spread over the minute (20 a minute: 5 at once, then one every
  4 seconds), which also keeps a private chat well under one a second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db.session import Database

HOLD_SECONDS = 2.0
"""The longest a worker waits for the budget with a message in hand; a message further off
is deferred to its moment and its tokens given back."""

TAKE_SQL = text(
    """
    INSERT INTO rate_buckets AS b (key, tokens, refilled_at)
    SELECT wanted.key, :capacity - wanted.n, clock_timestamp()
    FROM unnest(CAST(:keys AS text[]), CAST(:counts AS int[])) AS wanted(key, n)
    ORDER BY wanted.key
    ON CONFLICT (key) DO UPDATE SET
        tokens = LEAST(
            :capacity,
            b.tokens + :rate * GREATEST(
                0, EXTRACT(EPOCH FROM excluded.refilled_at - b.refilled_at))
        ) - (:capacity - excluded.tokens),
        refilled_at = GREATEST(b.refilled_at, excluded.refilled_at)
    RETURNING b.key, b.tokens
    """
)
"""Refill by the time passed, capped, then take: `excluded.tokens` carries capacity - n,
so the taken count n reaches the update without a second statement. Keys in order, so
two takers of several chats lock them in the same order and never deadlock."""

GIVE_BACK_SQL = text(
    """
    UPDATE rate_buckets AS b SET tokens = LEAST(:capacity, b.tokens + returned.n)
    FROM unnest(CAST(:keys AS text[]), CAST(:counts AS int[])) AS returned(key, n)
    WHERE b.key = returned.key
    """
)

HOLD_BACK_SQL = text(
    """
    INSERT INTO rate_buckets AS b (key, tokens, refilled_at)
    VALUES (:key, 1 - CAST(:seconds AS float8) * CAST(:rate AS float8), clock_timestamp())
    ON CONFLICT (key) DO UPDATE SET
        tokens = LEAST(
            LEAST(
                :capacity,
                b.tokens + :rate * GREATEST(
                    0, EXTRACT(EPOCH FROM excluded.refilled_at - b.refilled_at))
            ),
            excluded.tokens
        ),
        refilled_at = GREATEST(b.refilled_at, excluded.refilled_at)
    """
)
"""Refill, then lower the level so that the next token comes no sooner than `seconds`
from now (token 0 is usable after (1 - level) / rate seconds); a level already lower
(more promised) stays."""


@dataclass(frozen=True)
class Limit:
    """A token bucket: `rate` tokens a second, at most `capacity` saved up."""

    rate: float
    capacity: float

    @classmethod
    def per_second(cls, count: int) -> Limit:
        """`count` a second, with a burst of a tenth of a second's worth (at least one)."""
        return cls(rate=float(count), capacity=max(1.0, count / 10))

    @classmethod
    def per_minute(cls, count: int) -> Limit:
        """At most `count` in any 60 seconds: a quarter at once (at least one), the rest
        over the minute. `count` is at least 2, or nothing would ever refill."""
        capacity = float(max(1, count // 4))
        return cls(rate=(count - capacity) / 60, capacity=capacity)


async def take(session: AsyncSession, limit: Limit, counts: Counter[str]) -> dict[str, list[float]]:
    """Take `counts[key]` tokens from each bucket; for each key, the seconds from now
    after which each of its tokens may be used, soonest first."""
    if not counts:
        return {}
    keys = sorted(counts)
    rows = await session.execute(
        TAKE_SQL,
        {
            "keys": keys,
            "counts": [counts[key] for key in keys],
            "rate": limit.rate,
            "capacity": limit.capacity,
        },
    )
    waits: dict[str, list[float]] = {}
    for key, left in rows:
        level = left + counts[key]
        waits[key] = [max(0.0, (k + 1 - level) / limit.rate) for k in range(counts[key])]
    return waits


async def give_back(session: AsyncSession, limit: Limit, counts: Counter[str]) -> None:
    """Return tokens taken and not used: the buckets' promises shrink by that much."""
    if counts:
        keys = sorted(counts)
        await session.execute(
            GIVE_BACK_SQL,
            {"keys": keys, "counts": [counts[key] for key in keys], "capacity": limit.capacity},
        )


@dataclass(frozen=True)
class TelegramPace:
    """The bot token's budget and each chat's, shared by every replica."""

    db: Database
    bot: str
    per_token: Limit
    per_chat: Limit

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> TelegramPace:
        """Buckets named by the bot's id (the part of the token before the colon, which
        is public): replicas with one token share them, and the secret stays out."""
        token = settings.bot_token.get_secret_value() if settings.bot_token else ""
        return cls(
            db,
            token.partition(":")[0] or "bot",
            Limit.per_second(settings.telegram_max_per_second),
            Limit.per_minute(settings.telegram_max_per_chat_per_minute),
        )

    @property
    def token_key(self) -> str:
        return f"telegram:{self.bot}"

    def chat_key(self, chat_id: int) -> str:
        return f"telegram:{self.bot}:chat:{chat_id}"

    async def reserve(self, chats: Sequence[int]) -> list[float]:
        """One message to each of `chats` (a chat may repeat): the seconds each must wait.

        The token's tokens go to the messages in the order their chats allow them, so a
        chat that must wait does not hold a token another message could use now.
        """
        if not chats:
            return []
        per_chat = Counter(self.chat_key(chat) for chat in chats)
        async with self.db.system_uow() as session:
            overall = await take(session, self.per_token, Counter({self.token_key: len(chats)}))
            by_chat = await take(session, self.per_chat, per_chat)
        chat_waits = [by_chat[self.chat_key(chat)].pop(0) for chat in chats]
        order = sorted(range(len(chats)), key=lambda i: chat_waits[i])
        waits = [0.0] * len(chats)
        for token_wait, i in zip(overall[self.token_key], order, strict=True):
            waits[i] = max(token_wait, chat_waits[i])
        return waits

    async def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429 for `chat_id` with `retry_after` = `seconds`: no replica
        sends to that chat before then (the other chats keep their budget)."""
        async with self.db.system_uow() as session:
            await session.execute(
                HOLD_BACK_SQL,
                {
                    "key": self.chat_key(chat_id),
                    "seconds": seconds,
                    "rate": self.per_chat.rate,
                    "capacity": self.per_chat.capacity,
                },
            )

    async def release(self, chats: Sequence[int]) -> None:
        """Give back the tokens of messages reserved and then not sent (deferred)."""
        if not chats:
            return
        async with self.db.system_uow() as session:
            await give_back(session, self.per_token, Counter({self.token_key: len(chats)}))
            await give_back(session, self.per_chat, Counter(self.chat_key(c) for c in chats))
