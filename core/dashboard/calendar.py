"""A person's private calendar feed (SPEC §9): `/app/calendar/<token>.ics`, RFC 5545.

A calendar application polls the URL with no cookie, so the token is the only proof: it
is 192 random bits, and only its hash is stored (`CalendarFeed`). Each person has at most
one; a new token replaces the row, so the old URL stops working at once. Because only the
hash is kept, the URL can be shown only when a token is made.

The feed is found on the system path by the hash (the URL carries no tenant), then the
person is reloaded in their tenant's transaction (`load_actor`: a disabled person's feed is
gone, as their cookie is) and the events are their open obligations in scope, by the same
rule as the bot's list (`Actor.branch_ids`, row-level security underneath): one all-day
event per obligation, due date first, with a reminder.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from icalendar import Alarm, Calendar, Event
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.clock import utc_now
from core.crypto import hash_token, new_token
from core.dashboard.links import host_of, obligation_url
from core.dashboard.models import CalendarFeed
from core.db.enums import OPEN_OBLIGATION, ObligationCategory, ObligationStatus, Severity
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError
from core.i18n import N_, Texts, choose_language, texts_for
from core.i18n.labels import label
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.obligations.schedule import status_for
from core.tenancy.models import Branch
from core.tenancy.scope import Actor, load_actor

TOKEN_MAX_LENGTH = 128
DEFAULT_REMINDER_DAYS = 1
"""The reminder of an obligation whose template asks for none before the day."""
STREAM_BATCH = 1000
"""Rows the cursor fetches at a time."""
EVENTS_PER_CHUNK = 200
"""Events serialised between two writes: icalendar takes about 0.25 ms an event on the
bench machine, so a chunk holds the event loop for some 50 ms, never the whole feed."""
PRODUCT_ID = "-//Intrex//Compliance obligations//EN"
CALENDAR_NAME = N_("Intrex obligations")
CALENDAR_END = b"END:VCALENDAR\r\n"


async def issue_calendar_token(
    session: AsyncSession, actor: Actor, *, now: datetime | None = None
) -> str:
    """A new calendar token for the acting person; their previous one stops working."""
    values = {
        "tenant_id": actor.tenant_id,
        "user_id": actor.person_id,
        "token_hash": hash_token(token := new_token()),
        "created_at": utc_now(now),
    }
    statement = insert(CalendarFeed).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CalendarFeed.tenant_id, CalendarFeed.user_id],
            set_={
                "token_hash": statement.excluded.token_hash,
                "created_at": statement.excluded.created_at,
            },
        )
    )
    return token


async def calendar_made_at(session: AsyncSession, actor: Actor) -> datetime | None:
    """When the acting person's current calendar token was made; None: they have none."""
    return await session.scalar(
        select(CalendarFeed.created_at).where(CalendarFeed.user_id == actor.person_id)
    )


@dataclass(frozen=True)
class CalendarLink:
    """The acting person's feed: `token` only when it was just made (else it is unknown)."""

    made_at: datetime
    token: str | None


async def calendar_link(
    session: AsyncSession, actor: Actor, *, now: datetime | None = None
) -> CalendarLink:
    """Their feed as it stands, or their first one made now (`/dashboard`)."""
    made_at = await calendar_made_at(session, actor)
    if made_at is not None:
        return CalendarLink(made_at=made_at, token=None)
    token = await issue_calendar_token(session, actor, now=now)
    return CalendarLink(made_at=utc_now(now), token=token)


@dataclass(frozen=True)
class FeedOwner:
    tenant_id: uuid.UUID
    user_id: int


async def find_calendar_feed(db: Database, token: str) -> FeedOwner:
    """Whose feed this token opens (system path: the URL names no tenant); an unknown or
    replaced token is `calendar_feed_not_found`."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        raise NotFoundError(ErrorCode.calendar_feed_not_found)
    rows = await db.system_fetch(
        select(CalendarFeed.tenant_id, CalendarFeed.user_id).where(
            CalendarFeed.token_hash == hash_token(token)
        ),
        {},
    )
    if not rows:
        raise NotFoundError(ErrorCode.calendar_feed_not_found)
    return FeedOwner(tenant_id=rows[0]["tenant_id"], user_id=rows[0]["user_id"])


def _open_in_scope(actor: Actor) -> Any:
    """The actor's open obligations, by due date, with what an event shows."""
    conditions: list[Any] = [
        ObligationInstance.tenant_id == actor.tenant_id,
        ObligationInstance.status.in_(OPEN_OBLIGATION),
    ]
    if actor.branch_ids is not None:
        conditions.append(ObligationInstance.branch_id.in_(sorted(actor.branch_ids)))
    return (
        select(
            ObligationInstance.id,
            ObligationInstance.title,
            ObligationInstance.category,
            ObligationInstance.severity,
            ObligationInstance.due_at,
            Branch.code.label("branch_code"),
            ObligationTemplate.reminder_lead_days,
        )
        .join(ObligationTemplate, ObligationTemplate.id == ObligationInstance.template_id)
        .join(Branch, Branch.id == ObligationInstance.branch_id)
        .where(*conditions)
        .order_by(ObligationInstance.due_at, ObligationInstance.id)
    )


def reminder_days(lead_days: Sequence[int] | None) -> int:
    """How many days before the due date the event's alarm rings: the template's first
    reminder (its longest lead), or one day when it has none before the day itself."""
    before = [days for days in lead_days or () if days > 0]
    return max(before, default=DEFAULT_REMINDER_DAYS)


@dataclass(frozen=True)
class FeedContext:
    texts: Texts
    today: date
    base_url: str
    host: str
    stamp: datetime


def obligation_event(row: Any, context: FeedContext) -> Event:
    """One all-day event: due date, "[BRANCH] title", what it is, and a reminder."""
    texts = context.texts
    due: date = row.due_at
    status = status_for(due, context.today)
    link = obligation_url(context.base_url, row.id)
    description = "\n".join(
        (
            texts.gettext("Category: {category}").format(
                category=label(texts, ObligationCategory(row.category))
            ),
            texts.gettext("Severity: {severity}").format(
                severity=label(texts, Severity(row.severity))
            ),
            texts.gettext("Status: {status}").format(status=label(texts, ObligationStatus(status))),
            texts.gettext("Open in the Intrex dashboard: {url}").format(url=link),
        )
    )
    summary = f"[{row.branch_code}] {row.title}"
    event = Event()
    event.add("uid", f"{row.id}@{context.host}")
    event.add("dtstamp", context.stamp)
    event.add("dtstart", due)
    event.add("dtend", due + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("url", link)
    event.add("transp", "TRANSPARENT")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(days=-reminder_days(row.reminder_lead_days)))
    event.add_component(alarm)
    return event


async def calendar_chunks(
    connection: AsyncConnection,
    actor: Actor,
    *,
    base_url: str,
    default_language: str,
    now: datetime | None = None,
) -> AsyncIterator[bytes]:
    """The actor's feed as iCalendar bytes, in their language: the calendar's head, then
    `EVENTS_PER_CHUNK` events at a time as the cursor delivers them, then its end.

    Head office's feed holds every open obligation of the company (hundreds of thousands at
    the bench's scale): built whole, it would be that many `Event` objects in memory and one
    long stretch of the event loop. In batches its memory is one batch's, and the server
    writes each batch out before it reads the next.
    """
    texts = texts_for(
        choose_language(actor.language, None, actor.tenant_language, default_language)
    )
    context = FeedContext(
        texts=texts,
        today=actor.today,
        base_url=base_url,
        host=host_of(base_url),
        stamp=utc_now(now).replace(microsecond=0),
    )
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", texts.gettext(CALENDAR_NAME))
    calendar.add("x-wr-timezone", actor.timezone)
    empty: bytes = calendar.to_ical()
    yield empty.removesuffix(CALENDAR_END)
    if actor.branch_ids is None or actor.branch_ids:
        rows = await connection.stream(
            _open_in_scope(actor).execution_options(yield_per=STREAM_BATCH)
        )
        async for batch in rows.partitions(EVENTS_PER_CHUNK):
            yield b"".join(obligation_event(row, context).to_ical() for row in batch)
    yield CALENDAR_END


@asynccontextmanager
async def open_calendar_feed(
    db: Database,
    token: str,
    *,
    base_url: str,
    default_language: str,
    now: datetime | None = None,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """`GET /app/calendar/<token>.ics`: the feed this token opens, as its owner sees now,
    as chunks to send while the owner's tenant transaction stays open.

    A token unknown or replaced, or a person disabled since, is `calendar_feed_not_found`
    (one answer: the URL holder learns nothing about why), raised on entering, before a
    byte of the feed is sent.
    """
    owner = await find_calendar_feed(db, token)
    async with db.tenant_connection(owner.tenant_id) as connection:
        try:
            actor = await load_actor(connection, owner.user_id, now=now)
        except PermissionDeniedError as exc:
            raise NotFoundError(ErrorCode.calendar_feed_not_found) from exc
        yield calendar_chunks(
            connection, actor, base_url=base_url, default_language=default_language, now=now
        )
