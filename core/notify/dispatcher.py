"""The dispatcher: claims due delivery steps, sends them, records every attempt.

Any number of dispatchers may run against one database. Claiming is one statement on the
system path (`FOR UPDATE SKIP LOCKED`, then a lease), so two workers never hold the same
step; a worker that dies holding steps loses them when the lease runs out and another takes
them over. Sending happens outside any transaction. Each send is recorded when it ends, not
when its batch does: what ended while the previous write ran is written together, in one
transaction (an attempt row per send, the step's next state: sent, retry with exponential
backoff and jitter, or dead letter; the event's summary status and the connector's
health). The step's idempotency key travels with every attempt, so the only repeats a
receiver can see are sends whose outcome a dying worker never recorded.

One slow or dead receiver delays only its own deliveries (SPEC §4):

- the claim is fair: due steps are ranked within their connector (urgent first: critical,
  then high, then medium, then low and digests; then by due time), then within their
  tenant by that rank, and a batch takes the lowest ranks first, so every tenant and every
  connector gets its turn before any gets a second;
- a connector has at most `NOTIFY_CONNECTOR_CONCURRENCY` sends in flight in a worker, and
  a worker holds no more of its steps than `CLAIM_ROUNDS_AHEAD` rounds of that (a step
  still waiting for a slot at half its lease is deferred, not sent late);
- when one of a connector's sends fails, the worker defers that connector's steps it holds
  and has not started (not failed: no attempt is spent), and a connector in `error` is
  given to one worker at a time, one step at a time (the probe) until a send succeeds;
- `run` does not wait for a batch to end: it claims again as sends finish.

Telegram is paced for all replicas together by token buckets in PostgreSQL
(`core.notify.pacing`): a worker takes the tokens of all its Telegram steps at once, for the
bot token and for each chat, and sends each at the moment its tokens allow; a step whose
moment is more than `HOLD_SECONDS` away gives its tokens back and is deferred to it. So
Telegram is never sent more than `TELEGRAM_MAX_PER_SECOND` and
`TELEGRAM_MAX_PER_CHAT_PER_MINUTE` allow, and a 429 is not how Intrex learns the limit. Edits
of sent copies (`core.notify.copies`) take their tokens from the same buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table, and_, bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now, work_span
from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import (
    CLOSED_ALERT,
    PENDING_NOTIFICATION,
    ConnectorStatus,
    ConnectorType,
    NotificationStatus,
    Severity,
    UserStatus,
)
from core.db.session import Database
from core.errors import IntrexError
from core.i18n import Texts, choose_language, texts_for
from core.metrics import DELIVERIES, QUEUE_DEPTH, QUEUE_OLDEST_SECONDS
from core.notify.channels.base import Channel, Delivery, DeliveryError, SentCopy
from core.notify.channels.telegram import TelegramChannel
from core.notify.copies import ACKNOWLEDGED, EDIT_BATCH, CopyEditor, queue_edits
from core.notify.copies import RESOLVED as RESOLVED_COPY
from core.notify.models import (
    Connector,
    NotificationDelivery,
    NotificationEvent,
    NotificationRoute,
    NotificationStep,
)
from core.notify.pacing import HOLD_SECONDS, TelegramPace
from core.notify.quiet import quiet_until
from core.notify.recipients import (
    CHAT_PREFIX,
    NOBODY_RETRY,
    NOBODY_WAIT,
    OWNER,
    RESOLVED,
    USER_PREFIX,
    add_person_steps,
    is_reference,
    lock_event,
    resolve,
    window_end,
)
from core.notify.redaction import Redactor, delivery_redactor
from core.notify.render import dashboard_link, render
from core.notify.routing import OWNER_HEAD_START
from core.tenancy.models import Tenant, User

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
QUIET_SEVERITIES = frozenset({Severity.low, Severity.medium})


def utcnow() -> datetime:
    return utc_now()


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff_seconds(attempt_no: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, then scaled by 0.5-1.0."""
    ceiling: float = min(cap, base * 2.0 ** max(0, attempt_no - 1))
    return ceiling * (0.5 + rng.random() / 2)


@dataclass
class Claimed:
    """A claimed step with what its send needs."""

    step: NotificationStep
    event: NotificationEvent
    connector_type: ConnectorType
    connector_status: ConnectorStatus
    config_token: str
    tenant_timezone: str
    quiet: tuple[Any, Any]
    tenant_language: str | None = None
    telegram_chat: int | None = None
    recipient_language: str | None = None
    """The person's own language when the recipient is a known user (by id or email)."""
    recipient_disabled: bool = False
    """The recipient is a user (by id or email) who has been disabled: nothing goes to them."""
    route_delay: int = 0
    """The route's delay in minutes: where the step's escalation window starts."""
    claimed_at: float = field(default_factory=time.monotonic)
    """When this worker claimed it: a failure of its connector after that defers it."""


@dataclass
class Outcome:
    claimed: Claimed
    attempt_no: int
    error: DeliveryError | None
    finished_at: datetime
    copy: SentCopy | None = None
    """Where a Telegram copy landed, so it can be edited when the alert ends."""


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    cancelled: int = 0
    edited: int = 0
    """Telegram copies of ended alerts edited to say so."""
    resolved: int = 0
    """Reference steps (`role:…`, `group:…`) resolved to people, or still reaching nobody."""
    errors: list[str] = field(default_factory=list)


CLAIM_SQL = text(
    """
    WITH pending AS (
        SELECT s.id, s.tenant_id, s.connector_id, s.next_attempt_at, s.status,
               s.claimed_until,
               CASE e.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                               WHEN 'medium' THEN 2 ELSE 3 END
               + CASE WHEN e.event_type = 'digest' THEN 1 ELSE 0 END AS urgency
        FROM notification_steps AS s
        JOIN notification_events AS e ON e.id = s.notification_event_id
        WHERE s.status IN ('queued', 'failed', 'processing')
          AND s.next_attempt_at <= :now
          AND (CAST(:only_event AS uuid) IS NULL OR s.notification_event_id = :only_event)
    ), probing AS MATERIALIZED (
        SELECT id FROM connectors WHERE status = 'error'
        FOR UPDATE SKIP LOCKED
    ), busy AS (
        SELECT connector_id, count(*) AS n FROM pending
        WHERE status = 'processing' AND claimed_until >= :now
        GROUP BY connector_id
    ), by_connector AS (
        SELECT p.id, p.tenant_id, p.connector_id, p.urgency, p.next_attempt_at,
               row_number() OVER (
                   PARTITION BY p.connector_id ORDER BY p.urgency, p.next_attempt_at, p.id
               ) AS connector_turn
        FROM pending AS p
        WHERE p.claimed_until IS NULL OR p.claimed_until < :now
    ), open AS (
        SELECT b.id, b.tenant_id, b.urgency, b.next_attempt_at, b.connector_turn
        FROM by_connector AS b
        JOIN connectors AS c ON c.id = b.connector_id
        LEFT JOIN busy ON busy.connector_id = b.connector_id
        LEFT JOIN unnest(CAST(:held_connectors AS uuid[]), CAST(:held_counts AS int[]))
            AS held(connector_id, n) ON held.connector_id = b.connector_id
        WHERE c.type::text = ANY(CAST(:types AS text[]))
          AND b.connector_turn <= CASE
              WHEN c.status = 'error' THEN
                  CASE WHEN c.id IN (SELECT id FROM probing)
                       THEN 1 - COALESCE(busy.n, 0) ELSE 0 END
              ELSE :per_connector - COALESCE(held.n, 0) END
    ), ranked AS (
        SELECT id, urgency, next_attempt_at,
               row_number() OVER (
                   PARTITION BY tenant_id ORDER BY connector_turn, urgency, next_attempt_at, id
               ) AS tenant_turn
        FROM open
    ), due AS (
        SELECT s.id FROM notification_steps AS s
        JOIN ranked ON ranked.id = s.id
        WHERE s.status IN ('queued', 'failed', 'processing')
          AND s.next_attempt_at <= :now
          AND (s.claimed_until IS NULL OR s.claimed_until < :now)
        ORDER BY ranked.tenant_turn, ranked.urgency, ranked.next_attempt_at
        LIMIT :batch
        FOR UPDATE OF s SKIP LOCKED
    )
    UPDATE notification_steps AS s
    SET status = 'processing', claimed_until = :lease_end, claimed_by = :worker
    FROM due WHERE s.id = due.id
    RETURNING s.id
    """
)
"""Fair and capped (module docstring): each connector's due steps ranked (`connector_turn`),
then each tenant's by that rank (`tenant_turn`); a connector gives at most its room in this
worker (`:per_connector` less what the worker holds of it), a connector in `error` one
probe, to the one claimer that holds its row's lock, and none while a probe is out."""

EVENT_STATUS_SQL = text(
    """
    UPDATE notification_events AS e SET status = summary.status
    FROM (
        SELECT e2.id,
            CASE
                WHEN bool_or(s.status = 'dead_letter') THEN 'dead_letter'
                WHEN bool_or(s.status = 'processing') THEN 'processing'
                WHEN bool_or(s.status = 'failed') THEN 'failed'
                WHEN bool_or(s.status = 'sent') THEN 'sent'
                WHEN bool_and(s.status = 'cancelled') THEN 'cancelled'
                ELSE 'queued'
            END::notification_status AS status
        FROM notification_events e2
        JOIN notification_steps s ON s.notification_event_id = e2.id
        WHERE e2.id = ANY(:ids)
        GROUP BY e2.id
    ) AS summary
    WHERE e.id = summary.id AND e.status NOT IN ('acked', 'cancelled')
    """
)


FALL_THROUGH_SQL = text(
    """
    WITH stranded AS (
        SELECT e.id FROM notification_events AS e
        WHERE e.id = ANY(:ids) AND e.status NOT IN ('acked', 'cancelled')
          AND NOT EXISTS (
              SELECT 1 FROM notification_steps AS s
              WHERE s.notification_event_id = e.id
                AND (s.status IN ('sent', 'processing', 'failed')
                     OR (s.status = 'queued' AND s.next_attempt_at <= :now)))
    ), next_level AS (
        SELECT s.notification_event_id AS id, min(s.level) AS level
        FROM notification_steps AS s JOIN stranded ON stranded.id = s.notification_event_id
        WHERE s.status = 'queued'
        GROUP BY s.notification_event_id
    )
    UPDATE notification_steps AS s SET next_attempt_at = :now
    FROM next_level
    WHERE s.notification_event_id = next_level.id AND s.level = next_level.level
      AND s.status = 'queued'
    """
)
"""An alert whose steps so far reached nobody (their people were disabled) goes on to its
next escalation level now, instead of waiting out that level's delay (SPEC §5)."""

RECIPIENT_DISABLED = "recipient disabled"

CLAIM_ROUNDS_AHEAD = 32
"""A claim takes up to this many rounds of a connector's concurrency (and no more than the
batch): enough to keep its slots busy while the next claim runs. A step still waiting for a
slot when half its lease is gone is deferred rather than sent (`_fly`)."""
RECORD_GATHER_SECONDS = 0.1
RECORD_GATHER_COUNT = 100
"""A write of fewer outcomes than this waits `RECORD_GATHER_SECONDS` for more first."""
BUSY_CLAIM_SECONDS = 0.5
"""While a worker holds work, how often at least it claims again (for other connectors'
new steps) even if little of what it holds is done: a claim ranks every due step."""
EDIT_POLL_SECONDS = 1.0
"""How often `run` looks for copies to edit when there were few: edits are not urgent."""
FAILING_CONNECTOR_WAIT = 5.0
"""Seconds a held step waits when its connector has just failed a send here."""


@dataclass
class _Entry:
    """Something ended that must be recorded: a send's outcome, or a step deferred."""

    report: DispatchReport
    outcome: Outcome | None = None
    deferred: tuple[Claimed, datetime] | None = None


class _Recorder:
    """Records each send as soon as it ends: what ends while a write runs goes in the
    next one (group commit), so a slow send holds back nothing but itself."""

    def __init__(self, write: Callable[[list[_Entry]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[tuple[_Entry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, entry: _Entry) -> None:
        """Queue `entry` and return once it is written (or its write failed and was logged;
        the step's lease then runs out and it is tried again)."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await asyncio.shield(written)

    async def _drain(self) -> None:
        while self._waiting:
            if len(self._waiting) < RECORD_GATHER_COUNT:
                # A moment for the sends finishing now to join this write: a write costs
                # about the same for one send as for a hundred.
                await asyncio.sleep(RECORD_GATHER_SECONDS)
            batch, self._waiting = self._waiting, []
            try:
                await self._write([entry for entry, _ in batch])
            except Exception:
                log.exception("recording deliveries failed", entries=len(batch))
            for _, written in batch:
                if not written.done():
                    written.set_result(None)


def _to_resolve(item: Claimed) -> bool:
    """A reference step (people to find) of an open alert on a usable connector."""
    return (
        is_reference(item.connector_type, item.step.recipient_ref)
        and item.event.status not in CLOSED_ALERT
        and item.connector_status is not ConnectorStatus.disabled
    )


def _user_id(item: Claimed) -> int | None:
    """The user a step is addressed to (`user:<id>`), if it is addressed to a user."""
    ref = item.step.recipient_ref
    if not ref.startswith(USER_PREFIX) or not ref.removeprefix(USER_PREFIX).isdigit():
        return None
    return int(ref.removeprefix(USER_PREFIX))


class Dispatcher:
    """Claims and delivers due steps; `run_once` is one batch, `run` loops until stopped."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        secrets: SecretBox,
        channels: Mapping[ConnectorType, Channel],
        *,
        worker_id: str | None = None,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.secrets = secrets
        self.channels = channels
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock
        self.rng = rng or random.Random()
        self._send_slots = asyncio.Semaphore(settings.notify_concurrency)
        self._connector_slots: dict[uuid.UUID, asyncio.Semaphore] = {}
        self._held: Counter[uuid.UUID] = Counter()
        """Steps this worker has claimed and not yet sent or settled, by connector."""
        self._failed_at: dict[uuid.UUID, float] = {}
        """When a send of each connector last failed here (monotonic)."""
        self._freed = asyncio.Event()
        self._recorder = _Recorder(self._write)
        telegram = channels.get(ConnectorType.telegram_bot)
        sender = telegram.sender if isinstance(telegram, TelegramChannel) else None
        self.pace = TelegramPace.from_settings(db, settings) if sender is not None else None
        """Telegram's budget, when this process sends to Telegram at all."""
        self.editor = (
            CopyEditor(
                db,
                sender,
                worker_id=self.worker_id,
                default_language=settings.default_language,
                pace=self.pace,
            )
            if sender is not None
            else None
        )

    async def measure_queue(self) -> None:
        """Refresh the queue gauges: due steps not yet sent, and how long the oldest has waited."""
        now = self.clock()
        async with self.db.system_uow() as session:
            depth, oldest = (
                await session.execute(
                    text(
                        "SELECT count(*), min(next_attempt_at) FROM notification_steps "
                        "WHERE status IN ('queued', 'failed', 'processing') "
                        "AND next_attempt_at <= :now"
                    ),
                    {"now": now},
                )
            ).one()
        QUEUE_DEPTH.set(depth)
        QUEUE_OLDEST_SECONDS.set((now - oldest).total_seconds() if oldest else 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until `stop` is set; what is in hand is finished and recorded first.

        Claims again as sends finish, without waiting for a batch to end; edits of ended
        alerts' copies run beside it.
        """
        report = DispatchReport()
        flying: set[asyncio.Task[None]] = set()
        editing = asyncio.create_task(self._edit_loop(stop)) if self.editor is not None else None
        try:
            while not stop.is_set():
                room = self.settings.notify_batch_size - sum(self._held.values())
                claimed = 0
                if room > 0:
                    try:
                        claimed, started = await self._launch(None, None, report, room)
                    except Exception:
                        log.exception("dispatch round failed", worker=self.worker_id)
                        started = []
                    for task in started:
                        flying.add(task)
                        task.add_done_callback(flying.discard)
                if self._held:
                    # More may be due on connectors this worker holds its share of: claim
                    # again once a good part of what it holds is done, or at the next poll.
                    await self._wait_for_room(
                        stop, max(self.settings.notify_poll_seconds, BUSY_CLAIM_SECONDS)
                    )
                elif not claimed:
                    await self._pause(stop, self.settings.notify_poll_seconds, freed=False)
            if flying:
                await asyncio.gather(*flying, return_exceptions=True)
        except asyncio.CancelledError:
            for task in flying:
                task.cancel()
            if editing is not None:
                editing.cancel()
            await asyncio.shield(self.release_claims())
            raise
        finally:
            if editing is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await editing

    async def _wait_for_room(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait until half a connector's share of what this worker holds is sent, or
        `seconds` pass: a claim costs a ranking of every due step, so one claim should
        take many."""
        share = self.settings.notify_connector_concurrency * CLAIM_ROUNDS_AHEAD
        enough = max(0, sum(self._held.values()) - max(1, share // 2))
        deadline = time.monotonic() + seconds
        while sum(self._held.values()) > enough and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await self._pause(stop, left, freed=True)

    async def _pause(self, stop: asyncio.Event, seconds: float, *, freed: bool) -> None:
        """Wait until stopped, `seconds` pass or (`freed`) a held step is recorded."""
        waits = [asyncio.ensure_future(stop.wait())]
        if freed:
            self._freed.clear()
            waits.append(asyncio.ensure_future(self._freed.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _edit_loop(self, stop: asyncio.Event) -> None:
        assert self.editor is not None
        while not stop.is_set():
            try:
                edited = await self.editor.run_once(self.clock())
            except Exception:
                log.exception("editing copies failed", worker=self.worker_id)
                edited = 0
            if edited < EDIT_BATCH:
                await self._pause(
                    stop, max(self.settings.notify_poll_seconds, EDIT_POLL_SECONDS), freed=False
                )

    async def run_once(
        self,
        *,
        only_event: uuid.UUID | None = None,
        types: Collection[ConnectorType] | None = None,
    ) -> DispatchReport:
        """Claim, send and record one batch (optionally of one event, or some connector
        types), then edit the Telegram copies of alerts that ended."""
        report = DispatchReport()
        _, started = await self._launch(only_event, types, report, self.settings.notify_batch_size)
        try:
            await asyncio.gather(*started)
        except asyncio.CancelledError:
            for task in started:
                task.cancel()
            await asyncio.shield(self.release_claims())
            raise
        if self.editor is not None and (types is None or ConnectorType.telegram_bot in types):
            report.edited = await self.editor.run_once(self.clock())
        return report

    async def _launch(
        self,
        only_event: uuid.UUID | None,
        types: Collection[ConnectorType] | None,
        report: DispatchReport,
        limit: int,
    ) -> tuple[int, list[asyncio.Task[None]]]:
        """Claim up to `limit` steps, settle what needs no send (closed, quiet, paced for
        later), and start a send for each of the rest: how many were claimed, the sends."""
        now = self.clock()
        wanted = types or list(self.channels)
        claimed = await self._claim(now, only_event, wanted, limit)
        claimed_count = len(claimed)
        for claim_again in (True, False):
            references = [item for item in claimed if _to_resolve(item)]
            if not references:
                break
            report.resolved += await self._resolve_references(references, now)
            self._let_go(references)
            claimed = [item for item in claimed if item not in references]
            if claim_again and claimed_count < limit:
                # The people's steps just made are due now: send them in this round.
                more = await self._claim(now, only_event, wanted, limit - claimed_count)
                claimed_count += len(more)
                claimed += more
        report.claimed += claimed_count
        if not claimed:
            return claimed_count, []
        to_send: list[Claimed] = []
        deferred: list[tuple[Claimed, datetime]] = []
        cancelled: list[Claimed] = []
        for item in claimed:
            closed = item.event.status in (NotificationStatus.acked, NotificationStatus.cancelled)
            disabled = item.connector_status is ConnectorStatus.disabled
            if closed or disabled or item.recipient_disabled:
                cancelled.append(item)
            elif (wake := self._quiet_until(item, now)) is not None:
                deferred.append((item, wake))
            else:
                to_send.append(item)
        paced = await self._pace(to_send, now, deferred)
        if deferred or cancelled:
            await asyncio.shield(self._record([], deferred, cancelled, report))
            self._let_go([item for item, _ in deferred] + cancelled)
        started = [
            asyncio.create_task(self._fly(item, wait, report), name=f"send {item.step.id}")
            for item, wait in paced
        ]
        return claimed_count, started

    async def _pace(
        self, items: list[Claimed], now: datetime, deferred: list[tuple[Claimed, datetime]]
    ) -> list[tuple[Claimed, float]]:
        """Each send with the seconds it waits for Telegram's budget (0 for other channels).
        A Telegram step further off than `HOLD_SECONDS` gives its tokens back and joins
        `deferred`, due at its moment."""
        telegram = [
            item
            for item in items
            if item.connector_type is ConnectorType.telegram_bot and item.telegram_chat is not None
        ]
        if self.pace is None or not telegram:
            return [(item, 0.0) for item in items]
        waits = await self.pace.reserve([cast(int, item.telegram_chat) for item in telegram])
        wait_of = {item.step.id: wait for item, wait in zip(telegram, waits, strict=True)}
        later = [item for item in telegram if wait_of[item.step.id] > HOLD_SECONDS]
        if later:
            await self.pace.release([cast(int, item.telegram_chat) for item in later])
            deferred.extend(
                (item, now + timedelta(seconds=wait_of[item.step.id])) for item in later
            )
        return [
            (item, wait_of.get(item.step.id, 0.0))
            for item in items
            if wait_of.get(item.step.id, 0.0) <= HOLD_SECONDS
        ]

    async def _fly(self, item: Claimed, wait: float, report: DispatchReport) -> None:
        """Wait for the step's moment and its connector's slot, send, and have it recorded;
        a step whose connector failed here since it was claimed is deferred instead."""
        if wait > 0:
            await asyncio.sleep(wait)
        connector_id = item.step.connector_id
        slots = self._connector_slots.get(connector_id)
        if slots is None:
            slots = asyncio.Semaphore(self.settings.notify_connector_concurrency)
            self._connector_slots[connector_id] = slots
        async with slots:
            failed = self._failed_at.get(connector_id, float("-inf")) > item.claimed_at
            stale = time.monotonic() - item.claimed_at > self.settings.notify_lease_seconds / 2
            if failed or stale:
                # Its connector failed here since it was claimed, or is so slow that the
                # lease would run out: let it wait (no attempt spent) rather than pile on.
                later = self.clock() + timedelta(seconds=FAILING_CONNECTOR_WAIT)
                entry = _Entry(report, deferred=(item, later))
            else:
                outcome = await self._send(item)
                if outcome.error is not None:
                    self._failed_at[connector_id] = time.monotonic()
                    await self._hold_back(item, outcome.error)
                entry = _Entry(report, outcome=outcome)
        # Held until written: a worker killed now repeats at most what it holds, one batch.
        await self._recorder.add(entry)
        self._let_go([item])

    async def _hold_back(self, item: Claimed, error: DeliveryError) -> None:
        """A 429 from Telegram: the chat's shared budget waits out its `retry_after`."""
        if error.retry_after and self.pace is not None and item.telegram_chat is not None:
            await self.pace.hold(item.telegram_chat, error.retry_after)

    async def _write(self, entries: list[_Entry]) -> None:
        """Record what ended (the recorder's write): one transaction per report."""
        by_report: dict[int, list[_Entry]] = {}
        for entry in entries:
            by_report.setdefault(id(entry.report), []).append(entry)
        for group in by_report.values():
            outcomes = [entry.outcome for entry in group if entry.outcome is not None]
            deferred = [entry.deferred for entry in group if entry.deferred is not None]
            await self._record(outcomes, deferred, [], group[0].report)
            for outcome in outcomes:
                self._log_failure(outcome)

    def _let_go(self, items: Collection[Claimed]) -> None:
        """These steps no longer take their connector's room here (sent and recorded,
        settled, or resolved): what a worker holds bounds what a crash can repeat."""
        for item in items:
            self._held[item.step.connector_id] -= 1
        self._held = +self._held
        if items:
            self._freed.set()

    @staticmethod
    def _log_failure(outcome: Outcome) -> None:
        if outcome.error is not None:
            log.warning(
                "delivery failed",
                tenant_id=str(outcome.claimed.step.tenant_id),
                event_id=str(outcome.claimed.event.id),
                step_id=str(outcome.claimed.step.id),
                connector=outcome.claimed.connector_type.value,
                attempt=outcome.attempt_no,
                permanent=outcome.error.permanent,
                error=outcome.error.message,
            )

    async def release_claims(self) -> int:
        """Hand back what this worker claimed but could not finish (stopped mid-batch).

        The steps become due again at once for any worker. A send that went out before the
        stop may go out once more: the receiver drops it by its idempotency key.
        """
        async with self.db.system_uow() as session:
            result = await session.execute(
                text(
                    "UPDATE notification_steps SET claimed_until = NULL, claimed_by = NULL, "
                    "status = CASE WHEN attempts = 0 THEN 'queued' ELSE 'failed' END"
                    "::notification_status "
                    "WHERE claimed_by = :worker AND status = 'processing' "
                    "RETURNING notification_event_id"
                ),
                {"worker": self.worker_id},
            )
            event_ids = list({row[0] for row in result})
            if event_ids:
                await session.execute(EVENT_STATUS_SQL, {"ids": event_ids})
        released = len(event_ids)
        if released:
            log.info("released claims", worker=self.worker_id, events=released)
        return released

    async def _resolve_references(self, items: list[Claimed], now: datetime) -> int:
        """Turn due reference steps into their people's steps (due now, claimed next), or,
        reaching nobody, try again shortly until the escalation window ends, then dead-letter
        with the reason. One transaction; each event's resolutions serialised."""
        async with self.db.system_uow() as session:
            for item in items:
                step, event = item.step, item.event
                await lock_event(session, event.id)
                found = await resolve(session, event, step.recipient_ref)
                values: dict[str, Any] = {"claimed_until": None, "claimed_by": None}
                if found.recipients:
                    await add_person_steps(session, step, found.recipients, now)
                    values |= {"status": NotificationStatus.cancelled, "last_error": RESOLVED}
                elif step.route_id is None and step.recipient_ref == OWNER:
                    await self._skip_owner(session, step, now)
                    values |= {"status": NotificationStatus.cancelled, "last_error": found.nobody}
                else:
                    later = list(
                        await session.scalars(
                            select(NotificationStep.next_attempt_at).where(
                                NotificationStep.notification_event_id == event.id,
                                NotificationStep.level > step.level,
                                NotificationStep.status.in_(PENDING_NOTIFICATION),
                            )
                        )
                    )
                    end = window_end(event, item.route_delay, later, NOBODY_WAIT)
                    if now >= end:
                        values |= {
                            "status": NotificationStatus.dead_letter,
                            "last_error": found.nobody,
                        }
                    else:
                        values |= {
                            "status": NotificationStatus.queued,
                            "next_attempt_at": min(now + NOBODY_RETRY, end),
                            "last_error": found.nobody,
                        }
                await session.execute(
                    update(NotificationStep).where(NotificationStep.id == step.id).values(**values)
                )
            await session.execute(
                EVENT_STATUS_SQL, {"ids": list({item.event.id for item in items})}
            )
        return len(items)

    @staticmethod
    async def _skip_owner(session: AsyncSession, step: NotificationStep, now: datetime) -> None:
        """An owner-first step that reaches nobody (the owner left, or was disabled): the
        routes, held back for the owner's head start, go on their own delays from now."""
        await session.execute(
            update(NotificationStep)
            .where(
                NotificationStep.notification_event_id == step.notification_event_id,
                NotificationStep.level > step.level,
                NotificationStep.status == NotificationStatus.queued,
            )
            .values(
                next_attempt_at=func.greatest(
                    NotificationStep.next_attempt_at - OWNER_HEAD_START, now
                )
            )
        )

    def _quiet_until(self, item: Claimed, now: datetime) -> datetime | None:
        if item.event.severity not in QUIET_SEVERITIES:
            return None
        start, end = item.quiet
        return quiet_until(now, item.tenant_timezone, start, end)

    async def _claim(
        self,
        now: datetime,
        only_event: uuid.UUID | None,
        types: Collection[ConnectorType],
        limit: int | None = None,
    ) -> list[Claimed]:
        lease_end = now + work_span(self.settings.notify_lease_seconds)
        held = list(self._held.items())
        async with self.db.system_uow() as session:
            ids = list(
                await session.scalars(
                    CLAIM_SQL,
                    {
                        "now": now,
                        "lease_end": lease_end,
                        "worker": self.worker_id,
                        "batch": limit or self.settings.notify_batch_size,
                        "only_event": only_event,
                        "types": [connector_type.value for connector_type in types],
                        "per_connector": self.settings.notify_connector_concurrency
                        * CLAIM_ROUNDS_AHEAD,
                        "held_connectors": [connector_id for connector_id, _ in held],
                        "held_counts": [count for _, count in held],
                    },
                )
            )
            if not ids:
                return []
            rows = await session.execute(
                select(
                    NotificationStep,
                    NotificationEvent,
                    Connector.type,
                    Connector.status,
                    Connector.config_encrypted_json,
                    Tenant.timezone,
                    Tenant.quiet_hours_start,
                    Tenant.quiet_hours_end,
                    Tenant.language,
                    NotificationRoute.delay_minutes,
                )
                .join(
                    NotificationEvent,
                    NotificationEvent.id == NotificationStep.notification_event_id,
                )
                .join(Connector, Connector.id == NotificationStep.connector_id)
                .join(Tenant, Tenant.id == NotificationStep.tenant_id)
                .outerjoin(NotificationRoute, NotificationRoute.id == NotificationStep.route_id)
                .where(NotificationStep.id.in_(ids))
            )
            claimed = [
                Claimed(
                    step=step,
                    event=event,
                    connector_type=ctype,
                    connector_status=cstatus,
                    config_token=token,
                    tenant_timezone=tz,
                    quiet=(qstart, qend),
                    tenant_language=language,
                    route_delay=delay or 0,
                )
                for step, event, ctype, cstatus, token, tz, qstart, qend, language, delay in rows
            ]
            await self._resolve_people(session, claimed)
        self._held.update(item.step.connector_id for item in claimed)
        return claimed

    async def _resolve_people(self, session: AsyncSession, claimed: list[Claimed]) -> None:
        """Who each recipient is: a user's Telegram chat (active users only) and language,
        so each person reads the alert in their own (SPEC §8); an email address of a user
        is that user's language too. One statement for the ids, one for the emails."""
        ids = {user_id for item in claimed if (user_id := _user_id(item)) is not None}
        emails = {
            (item.step.tenant_id, item.step.recipient_ref.lower())
            for item in claimed
            if "@" in item.step.recipient_ref
        }
        people: dict[int, tuple[int | None, str, str | None]] = {}
        by_email: dict[tuple[uuid.UUID, str], tuple[str, str | None]] = {}
        if ids:
            found = await session.execute(
                select(User.id, User.telegram_user_id, User.status, User.language).where(
                    User.id.in_(ids)
                )
            )
            people = {int(row[0]): (row[1], row[2], row[3]) for row in found}
        if emails:
            matched = await session.execute(
                select(User.tenant_id, func.lower(User.email), User.status, User.language).where(
                    func.lower(User.email).in_([email for _, email in emails])
                )
            )
            by_email = {(row[0], row[1]): (row[2], row[3]) for row in matched}
        for item in claimed:
            user_id = _user_id(item)
            if user_id is not None:
                chat, status, item.recipient_language = people.get(user_id, (None, "", None))
                item.recipient_disabled = status == UserStatus.disabled.value
                if item.connector_type is ConnectorType.telegram_bot and status == "active":
                    item.telegram_chat = chat
            elif item.step.recipient_ref.startswith(CHAT_PREFIX):
                item.telegram_chat = int(item.step.recipient_ref.removeprefix(CHAT_PREFIX))
            elif "@" in item.step.recipient_ref:
                key = (item.step.tenant_id, item.step.recipient_ref.lower())
                status, item.recipient_language = by_email.get(key, ("", None))
                item.recipient_disabled = status == UserStatus.disabled.value

    def _texts(self, item: Claimed) -> Texts:
        return texts_for(
            choose_language(
                item.recipient_language, None, item.tenant_language, self.settings.default_language
            )
        )

    def _redactor(self, item: Claimed) -> Redactor:
        """What a failure's text must not carry: the connector's secrets, the process's."""
        return delivery_redactor(self.secrets, item.config_token, self.settings)

    async def _send(self, item: Claimed) -> Outcome:
        attempt_no = item.step.attempts + 1
        error: DeliveryError | None = None
        copy: SentCopy | None = None
        async with self._send_slots:
            try:
                config = self.secrets.decrypt_json(item.config_token)
                recipient = item.step.recipient_ref
                if item.connector_type is ConnectorType.telegram_bot:
                    if item.telegram_chat is None:
                        raise DeliveryError(
                            f"{recipient} has no linked Telegram account", permanent=True
                        )
                    recipient = str(item.telegram_chat)
                payload = item.event.payload_json
                delivery = Delivery(
                    event_id=item.event.id,
                    event_type=item.event.event_type.value,
                    severity=item.event.severity.value,
                    idempotency_key=item.step.idempotency_key,
                    attempt_no=attempt_no,
                    recipient=recipient,
                    message=render(
                        item.event.event_type.value,
                        item.event.severity.value,
                        payload,
                        self._texts(item),
                        item.tenant_timezone,
                    ),
                    acknowledgeable=item.event.event_type.value != "digest",
                    dashboard_url=dashboard_link(
                        self.settings, item.event.event_type.value, payload
                    ),
                    timezone=item.tenant_timezone,
                )
                copy = await self.channels[item.connector_type].send(config, delivery)
            except DeliveryError as exc:
                error = exc
            except IntrexError as exc:
                error = DeliveryError(exc.message, permanent=True)
            except KeyError:
                error = DeliveryError(
                    f"no {item.connector_type.value} channel in this process", permanent=True
                )
            except Exception as exc:
                log.error(
                    "unexpected delivery failure",
                    step=str(item.step.id),
                    exception=self._redactor(item).traceback(exc),
                )
                error = DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)
        if error is not None:
            error = self._redactor(item).failure(error)
        return Outcome(
            claimed=item,
            attempt_no=attempt_no,
            error=error,
            finished_at=self.clock(),
            copy=copy if error is None else None,
        )

    async def _record(
        self,
        outcomes: list[Outcome],
        deferred: list[tuple[Claimed, datetime]],
        cancelled: list[Claimed],
        report: DispatchReport,
    ) -> None:
        max_attempts = self.settings.notify_max_attempts
        step_updates: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        connector_ok: set[uuid.UUID] = set()
        connector_failed: dict[uuid.UUID, tuple[int, str]] = {}
        for outcome in outcomes:
            step = outcome.claimed.step
            error = outcome.error
            if error is None:
                status, next_at = NotificationStatus.sent, outcome.finished_at
                report.sent += 1
                DELIVERIES.labels(outcome.claimed.connector_type.value, "sent").inc()
            elif error.permanent or outcome.attempt_no >= max_attempts:
                status, next_at = NotificationStatus.dead_letter, outcome.finished_at
                report.dead += 1
                DELIVERIES.labels(outcome.claimed.connector_type.value, "dead_letter").inc()
            else:
                delay = backoff_seconds(
                    outcome.attempt_no,
                    base=self.settings.notify_retry_base_seconds,
                    cap=self.settings.notify_retry_max_seconds,
                    rng=self.rng,
                )
                status = NotificationStatus.failed
                next_at = outcome.finished_at + timedelta(
                    seconds=max(delay, error.retry_after or 0.0)
                )
                report.retried += 1
                DELIVERIES.labels(outcome.claimed.connector_type.value, "retry").inc()
            step_updates.append(
                {
                    "step_id": step.id,
                    "new_status": status,
                    "new_attempts": outcome.attempt_no,
                    "next_at": next_at,
                    "error": None if error is None else error.message[:2000],
                }
            )
            deliveries.append(
                {
                    "tenant_id": step.tenant_id,
                    "notification_event_id": step.notification_event_id,
                    "connector_id": step.connector_id,
                    "step_id": step.id,
                    "recipient_ref": step.recipient_ref,
                    "attempt_no": outcome.attempt_no,
                    "delivery_status": NotificationStatus.sent if error is None else status,
                    "sent_at": outcome.finished_at if error is None else None,
                    "error": None if error is None else error.message[:2000],
                    "telegram_chat_id": outcome.copy.chat_id if outcome.copy else None,
                    "telegram_message_id": outcome.copy.message_id if outcome.copy else None,
                    "provider_message_id": (
                        outcome.copy.provider_message_id if outcome.copy else None
                    ),
                }
            )
            if error is None:
                connector_ok.add(step.connector_id)
            else:
                count, _ = connector_failed.get(step.connector_id, (0, ""))
                connector_failed[step.connector_id] = (count + 1, error.message[:500])
        for item, wake in deferred:
            step_updates.append(
                {
                    "step_id": item.step.id,
                    "new_status": NotificationStatus.queued,
                    "new_attempts": item.step.attempts,
                    "next_at": wake,
                    "error": item.step.last_error,
                }
            )
            report.deferred += 1
        for item in cancelled:
            step_updates.append(
                {
                    "step_id": item.step.id,
                    "new_status": NotificationStatus.cancelled,
                    "new_attempts": item.step.attempts,
                    "next_at": item.step.next_attempt_at,
                    "error": "connector disabled"
                    if item.connector_status is ConnectorStatus.disabled
                    else RECIPIENT_DISABLED
                    if item.recipient_disabled
                    else None,
                }
            )
            report.cancelled += 1
        touched = [o.claimed for o in outcomes] + cancelled + [item for item, _ in deferred]
        event_ids = list({item.step.notification_event_id for item in touched})
        async with self.db.system_uow() as session:
            if step_updates:
                steps = cast(Table, NotificationStep.__table__)
                await session.execute(
                    update(steps)
                    .where(steps.c.id == bindparam("step_id"), steps.c.claimed_by == self.worker_id)
                    .values(
                        status=bindparam("new_status"),
                        attempts=bindparam("new_attempts"),
                        next_attempt_at=bindparam("next_at"),
                        last_error=bindparam("error"),
                        claimed_until=None,
                        claimed_by=None,
                    ),
                    step_updates,
                )
            copies: list[uuid.UUID] = []
            if deliveries:
                inserted = await session.execute(
                    insert(NotificationDelivery).returning(
                        NotificationDelivery.id, NotificationDelivery.telegram_message_id
                    ),
                    deliveries,
                )
                copies = [row.id for row in inserted if row.telegram_message_id is not None]
            if event_ids:
                await session.execute(EVENT_STATUS_SQL, {"ids": event_ids})
            if copies:
                await self._follow_closed(session, copies)
            stranded = list(
                {item.step.notification_event_id for item in cancelled if item.recipient_disabled}
            )
            if stranded:
                await session.execute(FALL_THROUGH_SQL, {"ids": stranded, "now": self.clock()})
            await self._update_connectors(session, connector_ok, connector_failed)

    async def _follow_closed(self, session: AsyncSession, copies: list[uuid.UUID]) -> None:
        """A copy sent while its alert was being acknowledged or resolved is edited too."""
        closed = await session.execute(
            select(NotificationDelivery.id, NotificationEvent.id, NotificationEvent.status)
            .join(
                NotificationEvent,
                NotificationEvent.id == NotificationDelivery.notification_event_id,
            )
            .where(
                NotificationDelivery.id.in_(copies),
                NotificationEvent.status.in_(CLOSED_ALERT),
            )
        )
        for delivery_id, event_id, status in closed:
            kind = ACKNOWLEDGED if status is NotificationStatus.acked else RESOLVED_COPY
            await queue_edits(session, [event_id], kind, delivery_ids=[delivery_id])

    async def _update_connectors(
        self,
        session: AsyncSession,
        succeeded: set[uuid.UUID],
        failed: dict[uuid.UUID, tuple[int, str]],
    ) -> None:
        """One success makes a connector healthy; repeated failures mark it `error`."""
        if succeeded:
            await session.execute(
                update(Connector)
                .where(
                    Connector.id.in_(succeeded),
                    # A healthy connector's row is left alone: no lock for the other
                    # workers to wait on and no dead row version per write.
                    or_(
                        Connector.consecutive_failures != 0,
                        Connector.last_error.is_not(None),
                        Connector.status == ConnectorStatus.error,
                    ),
                )
                .values(
                    consecutive_failures=0,
                    last_error=None,
                    status=case(
                        (Connector.status == ConnectorStatus.error, ConnectorStatus.active),
                        else_=Connector.status,
                    ),
                )
            )
        threshold = self.settings.connector_error_threshold
        for connector_id, (count, error) in failed.items():
            if connector_id in succeeded:
                continue
            await session.execute(
                update(Connector)
                .where(Connector.id == connector_id)
                .values(
                    consecutive_failures=Connector.consecutive_failures + count,
                    last_error=error,
                    status=case(
                        (
                            and_(
                                Connector.status == ConnectorStatus.active,
                                Connector.consecutive_failures + count >= threshold,
                            ),
                            ConnectorStatus.error,
                        ),
                        else_=Connector.status,
                    ),
                )
            )
