"""Every Telegram copy of an alert follows it (SPEC §4): acknowledged or resolved, each copy
in each chat is edited to say so, by whom and when, and loses its buttons.

Each Telegram delivery records its chat and message. Acknowledging (`core.notify.ack`) or
resolving (`core.notify.events.resolve_events`) queues one `telegram_edits` row per copy
in the same transaction; a copy sent while the alert was closing is queued when its send
is recorded. The dispatcher claims due edits with a lease, like deliveries, so replicas
edit each copy once, and retries what Telegram throttles or cannot take yet.

The words of the edit are here (core): the bot's own acknowledgement of the pressed message
uses the same sentence.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import NotificationStatus
from core.db.session import Database
from core.i18n import N_, Texts, choose_language, texts_for
from core.notify.channels.base import DeliveryError
from core.notify.channels.telegram import TelegramSender
from core.notify.models import (
    Acknowledgement,
    NotificationDelivery,
    NotificationEvent,
    TelegramEdit,
)
from core.notify.pacing import HOLD_SECONDS, TelegramPace
from core.notify.recipients import USER_PREFIX
from core.notify.redaction import redact_optional
from core.notify.render import render
from core.tenancy.models import Tenant, User
from core.tenancy.names import user_name

ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
MAX_EDIT_ATTEMPTS = 8

ACKNOWLEDGED_LINE = N_("✅ Acknowledged by {name} on {moment}")
ACKNOWLEDGED_NOTE_LINE = N_("✅ Acknowledged by {name} on {moment}: “{note}”")
RESOLVED_LINES = {
    "completed": N_("✅ Resolved: completed by {name} at {moment}"),
    "waived": N_("✅ Resolved: waived by {name} at {moment}"),
    "deleted": N_("✅ Resolved: the obligation was deleted by {name} at {moment}"),
    "rescheduled": N_("✅ Resolved: the due date was changed by {name} at {moment}"),
    "domain_removed": N_("✅ Resolved: the domain was removed by {name} at {moment}"),
    "domain_paused": N_("✅ Resolved: monitoring was paused by {name} at {moment}"),
    "recovered": N_("✅ Resolved: the certificate check passes again ({moment})"),
}
RESOLVED_LINE = N_("✅ Resolved at {moment}")


def acknowledged_line(texts: Texts, name: str, moment: str, note: str | None) -> str:
    """ "✅ Acknowledged by Mina on 2 Dec 2026, 10:05", with the note when there is one."""
    if note:
        return texts.gettext(ACKNOWLEDGED_NOTE_LINE).format(name=name, moment=moment, note=note)
    return texts.gettext(ACKNOWLEDGED_LINE).format(name=name, moment=moment)


def resolved_line(texts: Texts, resolution: str | None, name: str | None, moment: str) -> str:
    """ "✅ Resolved: completed by Jamal Uddin at 2 Dec 2026, 14:05"."""
    template = RESOLVED_LINES.get(resolution or "")
    if template is None or ("{name}" in template and not name):
        return texts.gettext(RESOLVED_LINE).format(moment=moment)
    return texts.gettext(template).format(name=name, moment=moment)


async def queue_edits(
    session: AsyncSession,
    event_ids: Collection[uuid.UUID],
    kind: str,
    *,
    done: tuple[int, int] | None = None,
    delivery_ids: Collection[uuid.UUID] | None = None,
) -> int:
    """One edit per delivered Telegram copy of these events (once per copy and kind).

    `done`: the (chat, message) the caller edits itself (the pressed button's message),
    recorded as done so it is not edited twice. `delivery_ids`: only these copies.
    """
    if not event_ids:
        return 0
    copies = select(
        NotificationDelivery.tenant_id,
        NotificationDelivery.id,
        NotificationDelivery.notification_event_id,
        NotificationDelivery.telegram_chat_id,
        NotificationDelivery.telegram_message_id,
    ).where(
        NotificationDelivery.notification_event_id.in_(list(event_ids)),
        NotificationDelivery.telegram_message_id.is_not(None),
        NotificationDelivery.delivery_status == NotificationStatus.sent,
    )
    if delivery_ids is not None:
        copies = copies.where(NotificationDelivery.id.in_(list(delivery_ids)))
    rows = (await session.execute(copies)).all()
    if not rows:
        return 0
    values = [
        {
            "tenant_id": row.tenant_id,
            "delivery_id": row.id,
            "notification_event_id": row.notification_event_id,
            "chat_id": row.telegram_chat_id,
            "message_id": row.telegram_message_id,
            "kind": kind,
            "status": "done"
            if done is not None and (row.telegram_chat_id, row.telegram_message_id) == done
            else "pending",
        }
        for row in rows
    ]
    result = await session.execute(
        insert(TelegramEdit)
        .values(values)
        .on_conflict_do_nothing(index_elements=["delivery_id", "kind"])
        .returning(TelegramEdit.id)
    )
    return len(result.all())


@dataclass(frozen=True)
class ClaimedEdit:
    id: uuid.UUID
    tenant_id: uuid.UUID
    event_id: uuid.UUID
    chat_id: int
    message_id: int
    kind: str
    attempts: int
    recipient_ref: str | None


CLAIM_EDITS_SQL = text(
    """
    WITH due AS (
        SELECT id FROM telegram_edits
        WHERE status = 'pending' AND next_attempt_at <= :now
          AND (claimed_until IS NULL OR claimed_until < :now)
        ORDER BY next_attempt_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE telegram_edits AS t
    SET claimed_until = :lease_end, claimed_by = :worker
    FROM due WHERE t.id = due.id
    RETURNING t.id
    """
)


async def claim_edits(
    session: AsyncSession, now: datetime, lease: timedelta, worker: str, batch: int
) -> list[ClaimedEdit]:
    """Lease up to `batch` due edits of any tenant (system path)."""
    ids = list(
        await session.scalars(
            CLAIM_EDITS_SQL,
            {"now": now, "lease_end": now + lease, "worker": worker, "batch": batch},
        )
    )
    if not ids:
        return []
    rows = await session.execute(
        select(TelegramEdit, NotificationDelivery.recipient_ref)
        .join(
            NotificationDelivery,
            and_(
                NotificationDelivery.id == TelegramEdit.delivery_id,
                NotificationDelivery.tenant_id == TelegramEdit.tenant_id,
            ),
        )
        .where(TelegramEdit.id.in_(ids))
    )
    return [
        ClaimedEdit(
            edit.id,
            edit.tenant_id,
            edit.notification_event_id,
            edit.chat_id,
            edit.message_id,
            edit.kind,
            edit.attempts,
            recipient,
        )
        for edit, recipient in rows
    ]


async def finish_edit(
    session: AsyncSession,
    edit: ClaimedEdit,
    *,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """Done (error None), retried at `retry_at`, or given up after the last attempt."""
    values: dict[str, Any] = {
        "claimed_until": None,
        "claimed_by": None,
        "last_error": redact_optional(error),
    }
    if error is None:
        values["status"] = "done"
    elif retry_at is not None and edit.attempts + 1 < MAX_EDIT_ATTEMPTS:
        values |= {"attempts": edit.attempts + 1, "next_attempt_at": retry_at}
    else:
        values |= {"status": "failed", "attempts": edit.attempts + 1}
    await session.execute(update(TelegramEdit).where(TelegramEdit.id == edit.id).values(**values))


async def defer_edit(session: AsyncSession, edit: ClaimedEdit, until: datetime) -> None:
    """Not yet: Telegram's budget has no room for it before `until` (no attempt spent)."""
    await session.execute(
        update(TelegramEdit)
        .where(TelegramEdit.id == edit.id)
        .values(claimed_until=None, claimed_by=None, next_attempt_at=until)
    )


EDIT_BATCH = 20
"""Copies edited per dispatcher round: edits share the bot's Telegram budget with sends
(`core.notify.pacing`: the same buckets, per token and per chat)."""
EDIT_LEASE = timedelta(minutes=2)


class CopyEditor:
    """Edits the delivered copies of alerts that ended; one round per dispatcher round."""

    def __init__(
        self,
        db: Database,
        sender: TelegramSender,
        *,
        worker_id: str,
        default_language: str,
        pace: TelegramPace | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.worker_id = worker_id
        self.default_language = default_language
        self.pace = pace
        """Telegram's budget: an edit is a message to Telegram's flood control too."""

    async def run_once(self, now: datetime) -> int:
        """Claim due edits, word each in its reader's language, take Telegram's budget for
        them, edit each at its moment (or defer it to a later one), record; how many."""
        async with self.db.system_uow() as session:
            edits = await claim_edits(session, now, EDIT_LEASE, self.worker_id, EDIT_BATCH)
            words = {edit.id: await self._words(session, edit) for edit in edits}
        if not edits:
            return 0
        waits = [0.0] * len(edits)
        if self.pace is not None:
            waits = await self.pace.reserve([edit.chat_id for edit in edits])
        later = [
            (edit, wait) for edit, wait in zip(edits, waits, strict=True) if wait > HOLD_SECONDS
        ]
        if later and self.pace is not None:
            await self.pace.release([edit.chat_id for edit, _ in later])
        outcomes = await asyncio.gather(
            *(
                self._edit(edit, words[edit.id], wait, now)
                for edit, wait in zip(edits, waits, strict=True)
                if wait <= HOLD_SECONDS
            )
        )
        async with self.db.system_uow() as session:
            for edit, error, retry_at in outcomes:
                await finish_edit(session, edit, error=error, retry_at=retry_at)
            for edit, wait in later:
                await defer_edit(session, edit, now + timedelta(seconds=wait))
        return sum(1 for _, error, _ in outcomes if error is None)

    async def _edit(
        self, edit: ClaimedEdit, words: str, wait: float, now: datetime
    ) -> tuple[ClaimedEdit, str | None, datetime | None]:
        """One edit at its moment: the edit, and its error and retry time if it failed."""
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await self.sender.edit_alert(edit.chat_id, edit.message_id, words)
        except DeliveryError as exc:
            if exc.retry_after and self.pace is not None:
                await self.pace.hold(edit.chat_id, exc.retry_after)
            backoff = max(30.0 * (edit.attempts + 1), exc.retry_after or 0.0)
            retry = None if exc.permanent else now + timedelta(seconds=backoff)
            return edit, exc.message[:500], retry
        return edit, None, None

    async def _words(self, session: AsyncSession, edit: ClaimedEdit) -> str:
        """The alert as it was sent, in its reader's language, with how it ended."""
        event = await session.get_one(NotificationEvent, edit.event_id)
        tenant = await session.get_one(Tenant, edit.tenant_id)
        language: str | None = None
        if edit.recipient_ref and edit.recipient_ref.startswith(USER_PREFIX):
            language = await session.scalar(
                select(User.language).where(
                    User.tenant_id == edit.tenant_id,
                    User.id == int(edit.recipient_ref.removeprefix(USER_PREFIX)),
                )
            )
        texts = texts_for(choose_language(language, None, tenant.language, self.default_language))
        alert = render(
            event.event_type.value, event.severity.value, event.payload_json, texts, tenant.timezone
        ).text
        if edit.kind == ACKNOWLEDGED:
            ack = await session.scalar(
                select(Acknowledgement).where(Acknowledgement.notification_event_id == event.id)
            )
            if ack is None:
                return alert
            by = await session.get_one(User, ack.ack_by_user_id)
            line = acknowledged_line(
                texts, user_name(by), texts.moment(ack.ack_at, tenant.timezone), ack.ack_note
            )
        else:
            resolver = (
                await session.get(User, event.resolved_by_user_id)
                if event.resolved_by_user_id is not None
                else None
            )
            line = resolved_line(
                texts,
                event.resolution,
                user_name(resolver) if resolver else None,
                texts.moment(event.resolved_at or utc_now(), tenant.timezone),
            )
        return f"{alert}\n\n{line}"
