"""Retention: prune certificate check history and the audit trail past their limits.

Once a day across every worker (`core.db.job_runs` claims the day), on the system path:

- `ssl_check_results` older than `SSL_RESULT_RETENTION_DAYS`, except each domain's latest
  result, however old: a paused or long-unreachable domain still shows what was last seen;
- `activity_logs` older than `AUDIT_RETENTION_DAYS`. The audit trail is append-only
  (migration 0012's trigger refuses every DELETE but the system role's), and this is the one
  place that deletes from it.

A limit of 0 keeps everything. Each batch is one statement of at most `BATCH_SIZE` rows in a
transaction of its own, so no lock is held for long and a stop loses at most one batch.
Batches walk the parent rows (domains, tenants) in id order and read each one's history
through the index it already has (`domain_id, checked_at`; `tenant_id, timestamp`), so
finding old rows never scans the whole table, and a run goes on from where its last batch
ended instead of looking at pruned domains again.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause

from core.clock import utc_now
from core.config import Settings
from core.db.job_runs import claim_run, finish_run
from core.db.session import Database

log = structlog.get_logger(__name__)

JOB_NAME = "retention"
EVERY = timedelta(days=1)
BATCH_SIZE = 5000

PRUNE_RESULTS_SQL = text(
    """
    WITH doomed AS (
        SELECT old.id, old.domain_id
        FROM domains AS d
        CROSS JOIN LATERAL (
            SELECT r.id, r.domain_id FROM ssl_check_results AS r
            WHERE r.domain_id = d.id AND r.checked_at < :cutoff
              AND r.checked_at < (SELECT max(latest.checked_at) FROM ssl_check_results AS latest
                                  WHERE latest.domain_id = d.id)
            LIMIT :batch
        ) AS old
        WHERE d.id >= :after
        ORDER BY d.id
        LIMIT :batch
    ), gone AS (
        DELETE FROM ssl_check_results AS r USING doomed WHERE r.id = doomed.id
        RETURNING r.domain_id AS parent
    )
    SELECT count(*) AS deleted, (SELECT parent FROM gone ORDER BY parent DESC LIMIT 1) AS last
    FROM gone
    """
)
"""One batch of a domain's results older than the cutoff, its latest one never among them
(only results with a later one go)."""

PRUNE_AUDIT_SQL = text(
    """
    WITH doomed AS (
        SELECT old.id, old.tenant_id
        FROM tenants AS t
        CROSS JOIN LATERAL (
            SELECT a.id, a.tenant_id FROM activity_logs AS a
            WHERE a.tenant_id = t.id AND a."timestamp" < :cutoff
            LIMIT :batch
        ) AS old
        WHERE t.id >= :after
        ORDER BY t.id
        LIMIT :batch
    ), gone AS (
        DELETE FROM activity_logs AS a USING doomed WHERE a.id = doomed.id
        RETURNING a.tenant_id AS parent
    )
    SELECT count(*) AS deleted, (SELECT parent FROM gone ORDER BY parent DESC LIMIT 1) AS last
    FROM gone
    """
)

FIRST_ID = uuid.UUID(int=0)


@dataclass
class RetentionReport:
    ran: bool = False
    """False: another worker (or this one) already ran retention in the last day."""
    ssl_results_deleted: int = 0
    audit_entries_deleted: int = 0
    batches: int = 0


async def run_retention(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> RetentionReport:
    """Prune what is past its limit, if no worker has done so in the last day."""
    moment = utc_now(now)
    report = RetentionReport()
    async with db.system_uow() as session:
        if not await claim_run(session, JOB_NAME, every=EVERY, now=moment):
            return report
    report.ran = True
    if settings.ssl_result_retention_days:
        cutoff = moment - timedelta(days=settings.ssl_result_retention_days)
        report.ssl_results_deleted = await _prune(db, PRUNE_RESULTS_SQL, cutoff, batch_size, report)
    if settings.audit_retention_days:
        cutoff = moment - timedelta(days=settings.audit_retention_days)
        report.audit_entries_deleted = await _prune(db, PRUNE_AUDIT_SQL, cutoff, batch_size, report)
    summary = asdict(report)
    async with db.system_uow() as session:
        await finish_run(session, JOB_NAME, now=utc_now(), result=summary)
    log.info("retention pruned", **summary)
    return report


async def _prune(
    db: Database, statement: TextClause, cutoff: datetime, batch_size: int, report: RetentionReport
) -> int:
    """Run `statement` batch after batch, each in its own transaction, until one comes back
    short; each starts at the parent row where the last one stopped."""
    deleted, after = 0, FIRST_ID
    while True:
        async with db.system_uow() as session:
            row = (
                await session.execute(
                    statement, {"cutoff": cutoff, "after": after, "batch": batch_size}
                )
            ).one()
        report.batches += 1
        batch: int = row.deleted
        deleted += batch
        if batch < batch_size:
            return deleted
        after = row.last
