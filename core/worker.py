"""The worker: the notification dispatcher and the scheduled jobs of one process.

APScheduler only ticks; every job claims its work in SQL (leases, SKIP LOCKED, advisory
locks), so any number of worker processes may run against one database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.config import Settings
from core.crypto import SecretBox
from core.db.session import Database
from core.digest.service import run_digest
from core.metrics import JOB_FAILURES, JOB_SECONDS, SSL_CHECKS
from core.notify.channels.telegram import TelegramSender
from core.notify.dispatcher import Dispatcher
from core.notify.wiring import build_channels, close_channels
from core.obligations.clock import run_obligation_clock
from core.obligations.generation import run_obligation_generation
from core.retention import run_retention
from core.ssl.checker import CheckOutcome
from core.ssl.scheduler import run_ssl_round

log = structlog.get_logger(__name__)

GENERATION_EVERY = timedelta(hours=1)


def _guarded(
    name: str,
    job: Callable[[], Awaitable[Any]],
    beat: Callable[[], None],
    running: set[asyncio.Task[Any]],
) -> Callable[[], Awaitable[None]]:
    """A job that logs its failure instead of killing the scheduler; the next tick retries.

    Each run is registered in `running` so a stopping worker can let it finish.
    """

    async def run() -> None:
        beat()
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(job=name):
            try:
                result = await job()
                log.debug("job finished", result=repr(result))
            except Exception:
                JOB_FAILURES.labels(name).inc()
                log.exception("job failed")
            finally:
                JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
                if task is not None:
                    running.discard(task)

    return run


def _count(outcome: CheckOutcome) -> None:
    SSL_CHECKS.labels(outcome.status.value).inc()


class Worker:
    """Runs until `stop` is set, then lets in-flight work finish within the grace period."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        secrets: SecretBox,
        telegram: TelegramSender | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.channels = build_channels(settings, telegram)
        self.dispatcher = Dispatcher(db, settings, secrets, self.channels)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.running: set[asyncio.Task[Any]] = set()
        self.last_beat: float | None = None
        """Monotonic time the scheduler last started a job: /healthz's sign of life."""
        self.created = time.monotonic()
        """Monotonic time this worker was made: the first beat is due soon after."""

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    @property
    def patience(self) -> float:
        """Seconds without a beat (or, at the start, without the first) before it is stalled."""
        return 3 * self.settings.scheduler_tick_seconds + 5

    def alive(self) -> bool:
        if self.last_beat is None:
            return False
        return time.monotonic() - self.last_beat < self.patience

    def starting(self) -> bool:
        """No job has started yet, and the first is not overdue (jobs are due 1 s after `run`)."""
        return self.last_beat is None and time.monotonic() - self.created < self.patience

    def _schedule(self) -> None:
        tick = self.settings.scheduler_tick_seconds
        soon = datetime.now(UTC) + timedelta(seconds=1)
        jobs: list[tuple[str, Callable[[], Awaitable[Any]], float]] = [
            ("ssl_round", lambda: run_ssl_round(self.db, self.settings, on_outcome=_count), tick),
            ("obligation_clock", lambda: run_obligation_clock(self.db), tick),
            ("digest", lambda: run_digest(self.db, self.settings), tick),
            ("retention", lambda: run_retention(self.db, self.settings), tick),
            ("queue_gauges", self.dispatcher.measure_queue, min(tick, 15)),
            (
                "obligation_generation",
                lambda: run_obligation_generation(self.db),
                max(tick, GENERATION_EVERY.total_seconds()),
            ),
        ]
        for name, job, every in jobs:
            self.scheduler.add_job(
                _guarded(name, job, self.beat, self.running),
                "interval",
                seconds=every,
                id=name,
                next_run_time=soon,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(every)),
            )

    async def run(self, stop: asyncio.Event) -> None:
        self._schedule()
        self.scheduler.start()
        dispatching = asyncio.create_task(self.dispatcher.run(stop), name="dispatcher")
        try:
            await stop.wait()
        finally:
            await self._drain(dispatching)

    async def _drain(self, dispatching: asyncio.Task[None]) -> None:
        """Stop ticking; let the dispatcher's batch and running jobs finish, within the grace.

        What is still running when the grace ends is cancelled: the dispatcher then hands its
        claims back at once; a certificate round's claims expire with their lease.
        """
        self.scheduler.shutdown(wait=False)
        pending = {dispatching, *self.running}
        _, unfinished = await asyncio.wait(pending, timeout=self.settings.shutdown_grace_seconds)
        for task in unfinished:
            task.cancel()
        if unfinished:
            log.warning("stopped with work unfinished", tasks=len(unfinished))
            await asyncio.wait(unfinished, timeout=5)
        await close_channels(self.channels)
