"""The report at scale: 1,000 branches, 1,000,000 obligation instances, 10,000 domains.

Loads the company of `bench.report_data` (set-based SQL), then builds head office's report
`--runs` times (after 3 untimed) as `/report` does: one tenant unit of work as the runtime
role under row-level security, the acting admin reloaded in it, `build_report`; and again
with the chart drawn after it (the PNG the bot sends). Prints the median and p95 of each
next to the targets (p95 under 300 ms without the chart, under 1 s with it), a branch
manager's report (10 branches) the same way, and the PNG's size. Then, on the same
company, `intrex export obligations --format csv` of every row against PostgreSQL's own
COPY of the same statement (`bench.export_bench.measure`: rate at least 0.3× COPY's, peak
RSS under 200 MB).

Runs on the server named by INTREX_BENCH_DATABASE_URL or INTREX_TEST_DATABASE_URL (an admin
URL; a scratch database is created and dropped), else on an embedded PostgreSQL.

    .venv/bin/python bench/report_bench.py [--runs 40] [--keep] [--reuse NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench import export_bench
from bench.common import autocommit, percentile, server
from bench.report_data import SeededCompany, describe, seed
from core.db.migrate import migrate
from core.db.session import Database
from core.db.target import DatabaseTarget, local_target
from core.reports.chart import health_chart
from core.reports.service import Report, build_report
from core.tenancy.scope import ActorUnits

WARM_UP = 3
REPORT_TARGET_MS = 300.0
CHART_TARGET_MS = 1000.0


async def one_report(db: Database, seeded: SeededCompany, user_id: int) -> Report:
    async with ActorUnits(db, seeded.tenant_id, user_id)() as (session, actor):
        return await build_report(session, actor)


async def timings(
    db: Database, seeded: SeededCompany, user_id: int, runs: int, *, chart: bool
) -> tuple[list[float], Report, int]:
    """Milliseconds of `runs` reports (the chart drawn after each when `chart`), the last
    report and its PNG's size."""
    samples: list[float] = []
    report: Report | None = None
    png = b""
    for number in range(WARM_UP + runs):
        started = time.perf_counter()
        report = await one_report(db, seeded, user_id)
        if chart:
            png = health_chart(report.branches, "en", today=report.today)
        elapsed = (time.perf_counter() - started) * 1000
        if number >= WARM_UP:
            samples.append(elapsed)
    assert report is not None
    return samples, report, len(png)


def line(what: str, samples: list[float], target_ms: float | None) -> str:
    p50, p95 = statistics.median(samples), percentile(samples, 0.95)
    verdict = ""
    if target_ms is not None:
        verdict = f" -> {'OK' if p95 < target_ms else 'MISSED'} (target p95 < {target_ms:.0f} ms)"
    return f"{what}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(samples)} runs{verdict}"


async def run(target: DatabaseTarget, seeded: SeededCompany, runs: int) -> None:
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=2)
    try:
        samples, report, _ = await timings(db, seeded, seeded.admin_user_id, runs, chart=False)
        print(
            f"head office's report ({len(report.branches):,} branches ranked, "
            f"{report.overdue.total:,} overdue, {report.due_soon.total:,} due within 7 days, "
            f"{report.certificates.total:,} certificates at risk, {report.alerts.total:,} "
            f"unacknowledged alerts, {report.waivers.total:,} waivers in 30 days)"
        )
        print(line("  without the chart", samples, REPORT_TARGET_MS))
        samples, _, size = await timings(db, seeded, seeded.admin_user_id, runs, chart=True)
        print(line("  with the chart", samples, CHART_TARGET_MS) + f"; PNG {size / 1024:.0f} KiB")
        samples, report, _ = await timings(db, seeded, seeded.manager_user_id, runs, chart=False)
        print(line(f"a branch manager's report ({len(report.branches)} branches)", samples, None))
    finally:
        await db.dispose()
    # The export of the same company in the same run (bench/export_bench.py alone does the
    # same on a company of its own): the CLI against PostgreSQL's COPY, peak RSS.
    await export_bench.measure(target, seeded, argparse.Namespace(rounds=3, xlsx=False))


@asynccontextmanager
async def company_database(
    reuse: str | None, keep: bool, **sizes: int
) -> AsyncIterator[tuple[DatabaseTarget, SeededCompany]]:
    """A scratch database with the company loaded, or the one kept by an earlier --keep.

    `sizes` override `seed`'s (e.g. `instances=`), for a quick run at a smaller scale."""
    async with server() as admin_server:
        name = reuse or f"intrex_bench_{uuid.uuid4().hex[:8]}"
        if reuse is None:
            await autocommit(admin_server, f'CREATE DATABASE "{name}"')
        target = local_target(admin_server.set(database=name))
        try:
            if reuse is None:
                report = await migrate(target)
                if report.missing:
                    raise SystemExit("\n".join(report.missing))
                seeded = await seed(target, **sizes)
                print(
                    f"loaded {seeded.branches:,} branches, {seeded.instances:,} instances, "
                    f"{seeded.domains:,} domains, {seeded.alerts:,} alerts in "
                    f"{seeded.seconds:.1f} s (VACUUM ANALYZE included)"
                )
            else:
                seeded = await describe(target)
            yield target, seeded
        finally:
            if keep or reuse:
                print(f"kept database {name}")
            else:
                await autocommit(admin_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="timed reports of each kind")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="a database kept by an earlier --keep")
    args = parser.parse_args()
    print(f"report_bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    async with company_database(args.reuse, args.keep) as (target, seeded):
        await run(target, seeded, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
