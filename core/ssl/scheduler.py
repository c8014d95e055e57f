"""The certificate round: claim due domains across tenants, check them, record the results.

`run_ssl_round` is the scheduler job (APScheduler only triggers it; call it every minute or
so in every worker replica). Due domains are claimed in SQL on the system path, in
batches, with `FOR UPDATE SKIP LOCKED` and a lease (`claimed_until`, `claim_token`):
replicas running rounds at the same moment take disjoint domains, and a domain claimed by
a replica that died becomes due again when the lease runs out. Results are written in
each domain's own tenant unit of work, and only while this round still holds the claim,
so a replica that outlived its lease cannot write over a newer round.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now, work_span
from core.config import Settings
from core.db.enums import BranchStatus
from core.db.session import Database
from core.ssl.checker import CheckOutcome, Resolver, SslChecker
from core.ssl.hosts import HostPort
from core.ssl.models import Domain
from core.ssl.recording import record_outcome
from core.tenancy.models import Branch

DEFAULT_BATCH_SIZE = 500
WRITE_BATCH_SIZE = 250


@dataclass(frozen=True)
class ClaimedDomain:
    """A domain this round holds the lease on."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    target: HostPort


@dataclass
class RoundReport:
    """What one round did, for logs and metrics."""

    claimed: int = 0
    recorded: int = 0
    lost_claims: int = 0
    events: int = 0
    batches: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def lease_for(settings: Settings, batch_size: int) -> timedelta:
    """Long enough for a whole batch to be checked and written even if every check times out."""
    waves = math.ceil(batch_size / settings.ssl_concurrency) + 2
    return work_span(2 * waves * settings.ssl_timeout_seconds + 60)


async def claim_due(
    db: Database,
    *,
    now: datetime,
    lease: timedelta,
    token: uuid.UUID,
    limit: int,
) -> list[ClaimedDomain]:
    """Take the lease on up to `limit` due, unclaimed domains of any tenant (system path);
    a paused domain is never due, and the domains of a deactivated branch pause (they are
    not due until it is activated).

    Due means due at `now`, the round's clock; the lease runs from the moment of the claim
    (or `now`, if later), so a batch claimed late in a long round is still covered.
    """
    lease_start = max(now, utc_now())
    due = (
        select(Domain.id)
        .where(
            Domain.next_check_at <= now,
            Domain.paused_at.is_(None),
            or_(Domain.claimed_until.is_(None), Domain.claimed_until < now),
            ~exists().where(
                Branch.id == Domain.branch_id, Branch.status == BranchStatus.inactive.value
            ),
        )
        .order_by(Domain.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(Domain)
        .where(Domain.id.in_(due.scalar_subquery()))
        .values(claimed_until=lease_start + lease, claim_token=token)
        .returning(Domain.id, Domain.tenant_id, Domain.hostname, Domain.port)
        .execution_options(synchronize_session=False)
    )
    async with db.system_uow() as session:
        rows = (await session.execute(claim)).all()
    return [ClaimedDomain(row.id, row.tenant_id, HostPort(row.hostname, row.port)) for row in rows]


async def run_ssl_round(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    resolver: Resolver | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_outcome: Callable[[CheckOutcome], None] | None = None,
) -> RoundReport:
    """Check every domain due at `now` (default: the current time) once; the scheduler job."""
    started = time.perf_counter()
    now = utc_now(now)
    token = uuid.uuid4()
    lease = lease_for(settings, batch_size)
    checker = SslChecker.from_settings(settings, resolver=resolver)
    report = RoundReport()

    async def claimed() -> AsyncIterator[ClaimedDomain]:
        while True:
            batch = await claim_due(db, now=now, lease=lease, token=token, limit=batch_size)
            if not batch:
                return
            report.claimed += len(batch)
            report.batches += 1
            for domain in batch:
                yield domain

    pending: list[tuple[ClaimedDomain, CheckOutcome]] = []
    try:
        async for domain, outcome in checker.check_each(claimed(), lambda item: item.target):
            report.statuses[outcome.status.value] += 1
            if on_outcome is not None:
                on_outcome(outcome)
            pending.append((domain, outcome))
            if len(pending) >= WRITE_BATCH_SIZE:
                await _write(db, settings, pending, token, now, report)
                pending = []
        if pending:
            await _write(db, settings, pending, token, now, report)
    except asyncio.CancelledError:
        await asyncio.shield(release_claims(db, token))
        raise
    report.seconds = time.perf_counter() - started
    return report


async def _write(
    db: Database,
    settings: Settings,
    checked: list[tuple[ClaimedDomain, CheckOutcome]],
    token: uuid.UUID,
    now: datetime,
    report: RoundReport,
) -> None:
    """Record outcomes tenant by tenant, each in its tenant's unit of work, claims released.

    The next check is one interval after this one (after the round's `now`, if that is
    later), so two checks of a domain are never closer than the interval. A domain paused
    since its claim has lost it (pausing drops the lease), so its check is not recorded.
    """
    interval = timedelta(minutes=settings.ssl_check_interval_minutes)
    by_tenant: dict[uuid.UUID, dict[uuid.UUID, CheckOutcome]] = defaultdict(dict)
    for claimed, outcome in checked:
        by_tenant[claimed.tenant_id][claimed.id] = outcome
    for tenant_id, outcomes in by_tenant.items():
        async with db.tenant_uow(tenant_id) as session:
            held = list(
                await session.scalars(
                    select(Domain)
                    .where(Domain.id.in_(outcomes), Domain.claim_token == token)
                    .order_by(Domain.id)
                    .with_for_update()
                )
            )
            codes = await branch_codes(session, {d.branch_id for d in held if d.branch_id})
            for domain in held:
                recorded = await record_outcome(
                    session,
                    domain,
                    outcomes[domain.id],
                    notify_days=settings.ssl_notify_days,
                    next_check_at=max(now, outcomes[domain.id].checked_at) + interval,
                    branch_code=codes.get(domain.branch_id) if domain.branch_id else None,
                )
                domain.claimed_until = None
                domain.claim_token = None
                report.events += len(recorded.events)
            report.recorded += len(held)
            report.lost_claims += len(outcomes) - len(held)


async def branch_codes(session: AsyncSession, branch_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Branch codes for alert payloads, in one query."""
    if not branch_ids:
        return {}
    rows = await session.execute(select(Branch.id, Branch.code).where(Branch.id.in_(branch_ids)))
    return dict(rows.all())


async def release_claims(db: Database, token: uuid.UUID) -> None:
    """Hand back a stopped round's unchecked domains at once instead of at lease end."""
    async with db.system_uow() as session:
        await session.execute(
            update(Domain)
            .where(Domain.claim_token == token)
            .values(claimed_until=None, claim_token=None)
        )
