"""A company at report scale, loaded in set-based SQL: for the report and export benches.

`seed(target)` fills a migrated scratch database (`bench.common.scratch_database`) with one
tenant in Asia/Dhaka:

- 1,000 branches, a head office admin and 100 branch managers of 10 branches each;
- 20 monthly templates (every category × severity pair) and 1,000,000 obligation instances,
  50 a series per branch, due from four years ago to two months ahead: of the past ones 95%
  completed, 3% waived (with a reason, by a manager, some within the last 30 days) and 2%
  still open, so overdue; the rest upcoming;
- 10,000 domains (100 of them head office's), 85% valid, 8% expiring soon, 3% expired, 4%
  failing, every 250th paused, each with 10 check results;
- 20,000 alerts, a tenth of them still unacknowledged.

Each table is one INSERT … SELECT over generate_series, run as the superuser the server
URL names: no row-level security on the way in, no per-row foreign-key triggers
(`session_replication_role = replica`: the rows refer to what the same transaction made),
and the instances' plain indexes built after their rows; then VACUUM ANALYZE, so the
benches meet a planned database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bench.common import autocommit
from core.db.target import DatabaseTarget

TEMPLATES = 20
MANAGERS = 100
BRANCHES_PER_MANAGER = 10
CHECKS_PER_DOMAIN = 10
HEAD_OFFICE_DOMAINS = 100


@dataclass(frozen=True)
class SeededCompany:
    tenant_id: uuid.UUID
    tenant_name: str
    today: date
    """The tenant's local date when it was loaded."""
    admin_user_id: int
    manager_user_id: int
    """A branch manager of `BRANCHES_PER_MANAGER` branches."""
    branches: int
    instances: int
    domains: int
    alerts: int
    seconds: float
    """How long loading took, VACUUM ANALYZE included."""


async def seed(
    target: DatabaseTarget,
    *,
    branches: int = 1000,
    instances: int = 1_000_000,
    domains: int = 10_000,
    alerts: int = 20_000,
) -> SeededCompany:
    """Load the company into `target` (migrated to head, empty) and say what is there."""
    started = time.perf_counter()
    tenant_id = uuid.uuid4()
    name = f"bench-{tenant_id.hex[:8]}"
    occurrences = max(1, instances // (branches * TEMPLATES))
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            today = await _people_and_branches(conn, tenant_id, name, branches)
            async with _indexes_built_after(conn, "obligation_instances"):
                await _obligations(conn, tenant_id, today, occurrences)
            await _domains(conn, tenant_id, branches, domains)
            await _alerts(conn, tenant_id, alerts)
            counts = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM obligation_instances), "
                        "(SELECT min(id) FROM users WHERE role = 'head_office_admin'), "
                        "(SELECT min(id) FROM users WHERE role = 'branch_manager')"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    await autocommit(target.admin_url, "VACUUM ANALYZE")
    return SeededCompany(
        tenant_id=tenant_id,
        tenant_name=name,
        today=today,
        admin_user_id=int(counts[1]),
        manager_user_id=int(counts[2]),
        branches=branches,
        instances=int(counts[0]),
        domains=domains,
        alerts=alerts,
        seconds=time.perf_counter() - started,
    )


@asynccontextmanager
async def _indexes_built_after(conn: AsyncConnection, table: str) -> AsyncIterator[None]:
    """Drop `table`'s plain indexes (those of constraints stay), then build them again
    after the load: one sorted build each is far quicker than a million insertions."""
    found = await conn.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :table "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ),
        {"table": table},
    )
    indexes = list(found)
    for name, _ in indexes:
        await conn.execute(text(f'DROP INDEX "{name}"'))
    yield
    await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, definition in indexes:
        await conn.execute(text(definition))


async def _people_and_branches(
    conn: AsyncConnection, tenant_id: uuid.UUID, name: str, branches: int
) -> date:
    await conn.execute(
        text("INSERT INTO tenants (id, name, timezone) VALUES (:t, :name, 'Asia/Dhaka')"),
        {"t": tenant_id, "name": name},
    )
    await conn.execute(
        text(
            "INSERT INTO branches (tenant_id, code, name, district) "
            "SELECT :t, 'B' || lpad(n::text, 5, '0'), 'Branch ' || n, 'District ' || (n % 64) "
            "FROM generate_series(1, :n) AS n"
        ),
        {"t": tenant_id, "n": branches},
    )
    await conn.execute(
        text(
            "INSERT INTO users (tenant_id, role, email, full_name) "
            "SELECT :t, CASE WHEN n = 0 THEN 'head_office_admin' ELSE 'branch_manager' END"
            "::app_role, 'person' || n || '@bench.test', 'Person ' || n "
            "FROM generate_series(0, :managers) AS n ORDER BY n"
        ),
        {"t": tenant_id, "managers": MANAGERS},
    )
    await conn.execute(
        text(
            """
            INSERT INTO user_branches (tenant_id, user_id, branch_id)
            SELECT :t, u.id, b.id
            FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM users
                  WHERE tenant_id = :t AND role = 'branch_manager') AS u
            JOIN (SELECT id, row_number() OVER (ORDER BY code) - 1 AS k FROM branches
                  WHERE tenant_id = :t) AS b
              ON b.k / :per = u.k
            """
        ),
        {"t": tenant_id, "per": BRANCHES_PER_MANAGER},
    )
    today = await conn.scalar(text("SELECT (now() AT TIME ZONE 'Asia/Dhaka')::date"))
    assert isinstance(today, date)
    return today


async def _obligations(
    conn: AsyncConnection, tenant_id: uuid.UUID, today: date, occurrences: int
) -> None:
    """Templates t = 0..19 (category t % 5, severity t % 4), then every branch × template ×
    occurrence k: due `today - 1430 + t + 30k + s` days (s: 0..29, by branch, so every day
    of the month has its due items), its fate decided by a hash of the row."""
    await conn.execute(
        text(
            """
            INSERT INTO obligation_templates
                (tenant_id, category, title, recurrence_type, severity, anchor_date)
            SELECT :t,
                   (ARRAY['trade_license','fire_safety','tax_vat','environmental_permit',
                          'inspection_renewal'])[1 + t % 5]::obligation_category,
                   'Obligation ' || t, 'monthly',
                   (ARRAY['low','medium','high','critical'])[1 + t % 4]::severity,
                   CAST(:today AS date) - 1430 + t
            FROM generate_series(0, :templates - 1) AS t
            """
        ),
        {"t": tenant_id, "today": today, "templates": TEMPLATES},
    )
    await conn.execute(
        text(
            """
            INSERT INTO obligation_instances
                (tenant_id, branch_id, template_id, category, title, severity, status, due_at,
                 series_date, completed_at, waived_at, waived_by_user_id, waive_reason)
            SELECT :t, b.id, tpl.id, tpl.category, tpl.title, tpl.severity,
                   CASE WHEN s.due > :today THEN 'upcoming'
                        WHEN s.due = :today THEN 'due_today'
                        WHEN s.h < 20 THEN 'overdue'
                        WHEN s.h < 50 THEN 'waived'
                        ELSE 'completed' END::obligation_status,
                   s.due, s.due,
                   CASE WHEN s.due < :today AND s.h >= 50 THEN s.due::timestamptz END,
                   CASE WHEN s.due < :today AND s.h BETWEEN 20 AND 49
                        THEN least(now(), s.due::timestamptz + make_interval(days => s.h % 10)) END,
                   CASE WHEN s.due < :today AND s.h BETWEEN 20 AND 49
                        THEN managers.ids[1 + s.h % cardinality(managers.ids)] END,
                   CASE WHEN s.due < :today AND s.h BETWEEN 20 AND 49
                        THEN 'Closed for inspection ' || s.h END
            FROM (SELECT id, code, abs(hashtext(code)) % 30 AS shift FROM branches
                  WHERE tenant_id = :t) AS b
            CROSS JOIN obligation_templates AS tpl
            CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM users
                        WHERE tenant_id = :t AND role = 'branch_manager') AS managers
            CROSS JOIN LATERAL generate_series(0, :occurrences - 1) AS k
            CROSS JOIN LATERAL (
                SELECT tpl.anchor_date + 30 * k + b.shift AS due,
                       abs(hashtext(b.code || ':' || tpl.title || ':' || k)) % 1000 AS h
            ) AS s
            WHERE tpl.tenant_id = :t
            """
        ),
        {"t": tenant_id, "today": today, "occurrences": occurrences},
    )


async def _domains(conn: AsyncConnection, tenant_id: uuid.UUID, branches: int, count: int) -> None:
    """Domain n: branch n mod branches (the last `HEAD_OFFICE_DOMAINS`: none), its status by
    n mod 100; the latest of its checks says the same."""
    await conn.execute(
        text(
            """
            INSERT INTO domains
                (tenant_id, branch_id, hostname, port, status, last_checked_at, paused_at)
            SELECT :t,
                   CASE WHEN n <= :count - :head_office THEN b.id END,
                   'd' || n || '.bench.test', 443,
                   CASE WHEN n % 100 < 85 THEN 'ok'
                        WHEN n % 100 < 93 THEN 'warning'
                        WHEN n % 100 < 96 THEN 'expired'
                        WHEN n % 100 < 98 THEN 'handshake_failed'
                        WHEN n % 100 < 99 THEN 'dns_failed'
                        ELSE 'timeout' END::ssl_check_status,
                   now(),
                   CASE WHEN n % 250 = 0 THEN now() END
            FROM generate_series(1, :count) AS n
            JOIN (SELECT id, row_number() OVER (ORDER BY code) - 1 AS k FROM branches
                  WHERE tenant_id = :t) AS b
              ON b.k = n % :branches
            """
        ),
        {"t": tenant_id, "count": count, "head_office": HEAD_OFFICE_DOMAINS, "branches": branches},
    )
    await conn.execute(
        text(
            """
            INSERT INTO ssl_check_results
                (tenant_id, domain_id, check_status, days_remaining, checked_at)
            SELECT :t, d.id, d.status,
                   CASE WHEN d.status IN ('ok', 'warning', 'expired')
                        THEN CASE d.status WHEN 'ok' THEN 200 WHEN 'warning' THEN 20 ELSE -3 END
                             + (abs(hashtext(d.hostname)) % 10) + j END,
                   now() - make_interval(days => j)
            FROM domains AS d
            CROSS JOIN generate_series(0, :checks - 1) AS j
            WHERE d.tenant_id = :t
            """
        ),
        {"t": tenant_id, "checks": CHECKS_PER_DOMAIN},
    )


async def _alerts(conn: AsyncConnection, tenant_id: uuid.UUID, count: int) -> None:
    """Alert n: a tenth still open (sent or dead-lettered), the rest acknowledged or ended."""
    await conn.execute(
        text(
            """
            INSERT INTO notification_events
                (tenant_id, branch_id, event_type, severity, fingerprint, payload_json,
                 scheduled_for, status, created_at)
            SELECT :t, b.id,
                   (ARRAY['obligation_due','obligation_overdue','ssl_expiry','ssl_failure',
                          'digest'])[1 + n % 5]::notification_event_type,
                   (ARRAY['low','medium','high','critical'])[1 + n % 4]::severity,
                   'bench:' || n, '{}'::jsonb,
                   now() - make_interval(mins => n),
                   CASE WHEN n % 10 = 0 THEN 'sent'
                        WHEN n % 10 = 1 THEN 'acked'
                        ELSE 'cancelled' END::notification_status,
                   now() - make_interval(mins => n)
            FROM generate_series(1, :count) AS n
            LEFT JOIN (SELECT id, row_number() OVER (ORDER BY code) - 1 AS k FROM branches
                       WHERE tenant_id = :t) AS b
              ON b.k = n % 1100
            """
        ),
        {"t": tenant_id, "count": count},
    )


async def describe(target: DatabaseTarget) -> SeededCompany:
    """The company an earlier `seed` left in `target` (a database kept with --keep)."""
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        """
                        SELECT t.id, t.name, (now() AT TIME ZONE t.timezone)::date AS today,
                          (SELECT min(id) FROM users WHERE role = 'head_office_admin') AS admin,
                          (SELECT min(id) FROM users WHERE role = 'branch_manager') AS manager,
                          (SELECT count(*) FROM branches) AS branches,
                          (SELECT count(*) FROM obligation_instances) AS instances,
                          (SELECT count(*) FROM domains) AS domains,
                          (SELECT count(*) FROM notification_events) AS alerts
                        FROM tenants AS t
                        """
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    return SeededCompany(
        tenant_id=row.id,
        tenant_name=row.name,
        today=row.today,
        admin_user_id=int(row.admin),
        manager_user_id=int(row.manager),
        branches=int(row.branches),
        instances=int(row.instances),
        domains=int(row.domains),
        alerts=int(row.alerts),
        seconds=0.0,
    )
