"""Obligation imports at bulk speed, next to PostgreSQL's own COPY of the same rows.

For files of 10,000, 50,000 and 100,000 rows (100 branches, mixed recurrences: the four
month cadences, every 30 and every 91 days, and one-offs) and a file of 100,000 one-off
rows, prints
- the import's time (`import_obligations`, in this process, as the runtime role under
  row-level security), median of the rounds;
- PostgreSQL's COPY of exactly the rows that import wrote (its templates and its instances,
  dumped with COPY TO after the import) into fresh copies of the two tables with their
  constraints, foreign keys and indexes, alternated with the imports in the same run, and
  the ratio (target: the import within 2x of the COPY at every size);
- rows per second at each size (target: cost linear in rows: the 100,000-row file's cost
  per row within 1.25x of the 10,000-row file's), and the same growth for COPY itself;
- the peak RSS of `intrex import obligations FILE --json` run as a child process
  (`os.wait4`'s rusage of that child; target: under 300 MB at 100,000 rows) and its wall
  time, Python's start included;
- the 100,000 one-off rows' import time (target: under 20 s).

Every round starts from empty tables (TRUNCATE), for the import and the COPY alike.
Runs on the server named by INTREX_BENCH_DATABASE_URL or INTREX_TEST_DATABASE_URL (an admin
URL; a scratch database is created and dropped), else on an embedded PostgreSQL.

    .venv/bin/python bench/import_bench.py [--sizes 10000,50000,100000] [--rounds 3]
        [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.common import scratch_database, server
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.obligations.importer import ImportReport, import_obligations
from core.tenancy.models import Tenant
from core.tenancy.service import resolve_tenant

BRANCHES = 100
RECURRENCES = ("monthly", "quarterly", "semiannual", "annual", "every:30", "every:91", "none")
CATEGORIES = ("trade_license", "fire_safety", "tax_vat", "environmental_permit")
SEVERITIES = ("low", "medium", "high", "critical")
TABLES = {
    "obligation_templates": "bench_copy_templates",
    "obligation_instances": "bench_copy_instances",
}
RSS_LIMIT_MB = 300
SINGLE_LIMIT_S = 20.0
INTREX = Path(sys.executable).with_name("intrex")


def obligations_csv(rows: int, today: date, recurrences: tuple[str, ...]) -> bytes:
    """`rows` distinct obligations over BRANCHES branches, due from a month ago to a year on,
    in both date forms the import reads."""
    lines = ["branch_code,category,title,due_date,severity,recurrence,grace_days"]
    for n in range(rows):
        due = today + timedelta(days=n % 395 - 30)
        written = due.isoformat() if n % 2 else due.strftime("%d/%m/%Y")
        lines.append(
            f"B{n % BRANCHES:03d},{CATEGORIES[n % len(CATEGORIES)]},Obligation {n},{written},"
            f"{SEVERITIES[n % len(SEVERITIES)]},{recurrences[n % len(recurrences)]},{n % 8}"
        )
    return ("\n".join(lines) + "\n").encode()


def dsn(target: DatabaseTarget) -> str:
    return target.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)


async def make_tenant(admin: asyncpg.Connection) -> str:
    name = f"bench-import-{uuid.uuid4().hex[:8]}"
    tenant_id = await admin.fetchval(
        "INSERT INTO tenants (name, timezone) VALUES ($1, 'Asia/Dhaka') RETURNING id", name
    )
    await admin.execute(
        "INSERT INTO branches (tenant_id, code, name) "
        "SELECT $1, 'B' || lpad(n::text, 3, '0'), 'Branch ' || n "
        "FROM generate_series(0, $2 - 1) AS n",
        tenant_id,
        BRANCHES,
    )
    return name


async def make_copies(admin: asyncpg.Connection) -> None:
    """Empty copies of the two tables: columns, checks, defaults, indexes and foreign keys."""
    for source, copy in TABLES.items():
        await admin.execute(f"CREATE TABLE {copy} (LIKE {source} INCLUDING ALL)")
        for name, definition in await admin.fetch(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND contype = 'f'",
            source,
        ):
            for original, copied in TABLES.items():
                definition = definition.replace(f"REFERENCES {original}(", f"REFERENCES {copied}(")
            await admin.execute(f"ALTER TABLE {copy} ADD CONSTRAINT bench_{name} {definition}")


async def empty_tables(admin: asyncpg.Connection) -> None:
    await admin.execute(
        f"TRUNCATE obligation_templates, activity_logs, {', '.join(TABLES.values())} CASCADE"
    )
    await admin.execute("CHECKPOINT")


async def dump(admin: asyncpg.Connection) -> dict[str, bytes]:
    """What the import wrote, table by table, in COPY's binary form."""
    dumps = {}
    for source in TABLES:
        buffer = io.BytesIO()
        await admin.copy_from_table(source, output=buffer, format="binary")
        dumps[source] = buffer.getvalue()
    return dumps


async def time_copy(admin: asyncpg.Connection, dumps: dict[str, bytes]) -> float:
    """PostgreSQL's COPY of the dumped rows into the copies, in one transaction (committed)."""
    started = time.perf_counter()
    async with admin.transaction():
        for source, copy in TABLES.items():
            await admin.copy_to_table(copy, source=io.BytesIO(dumps[source]), format="binary")
    return time.perf_counter() - started


async def time_import(db: Database, tenant: Tenant, data: bytes) -> tuple[float, ImportReport]:
    started = time.perf_counter()
    report = await import_obligations(db, tenant, data, filename="bench.csv")
    return time.perf_counter() - started, report


PEAK_OF_CHILD = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, check=False)
sys.stderr.buffer.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout.decode().strip().splitlines()[-1] if done.stdout.strip() else "{}")
"""
"""Runs a command and prints its exit code and peak RSS (KiB): a process whose only child
is the command, so that RUSAGE_CHILDREN is that command's alone."""


def child_import(
    target: DatabaseTarget, path: Path, tenant: str
) -> tuple[float, float, dict[str, Any]]:
    """`intrex import obligations` as a child process: wall seconds, peak RSS (MB), reply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SECRET_KEYS"))}
    env["DATABASE_URL"] = target.runtime_url.render_as_string(hide_password=False)
    env["DATABASE_SYSTEM_URL"] = target.system_url.render_as_string(hide_password=False)
    env["DATABASE_ADMIN_URL"] = target.admin_url.render_as_string(hide_password=False)
    command = [str(INTREX)] if INTREX.exists() else [sys.executable, "-m", "cli"]
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_OF_CHILD,
            *command,
            "import",
            "obligations",
            str(path),
            "--tenant",
            tenant,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    status, reply = done.stdout.splitlines()[-2:]
    code, peak_kib = (int(value) for value in status.split())
    if code:
        raise SystemExit(f"intrex import failed: {done.stderr[-2000:]}")
    return elapsed, peak_kib / 1024, json.loads(reply)


@dataclass
class Measured:
    label: str
    rows: int
    templates: int
    instances: int
    imports: list[float]
    copies: list[float]

    @property
    def import_s(self) -> float:
        return statistics.median(self.imports)

    @property
    def copy_s(self) -> float:
        return statistics.median(self.copies)

    @property
    def ratio(self) -> float:
        return self.import_s / self.copy_s

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.import_s


async def measure(
    admin: asyncpg.Connection,
    db: Database,
    label: str,
    data: bytes,
    rows: int,
    rounds: int,
) -> Measured:
    """Rounds of: empty tables, import (timed), dump what it wrote, COPY that (timed)."""
    imports: list[float] = []
    copies: list[float] = []
    report = ImportReport()
    for _ in range(rounds):
        await empty_tables(admin)
        tenant = await resolve_tenant(db, await make_tenant(admin))
        elapsed, report = await time_import(db, tenant, data)
        imports.append(elapsed)
        if report.rows != rows:
            raise SystemExit(f"{label}: imported {report.rows} rows of {rows}")
        dumps = await dump(admin)
        copies.append(await time_copy(admin, dumps))
    result = Measured(
        label, rows, report.templates_created, report.instances_created, imports, copies
    )
    print(
        f"{label}: {rows:,} rows -> {result.templates:,} templates + {result.instances:,} "
        f"instances; import {result.import_s:.2f} s median "
        f"(runs {', '.join(f'{s:.2f}' for s in imports)}), {result.rows_per_s:,.0f} rows/s; "
        f"COPY of the same rows {result.copy_s:.2f} s "
        f"(runs {', '.join(f'{s:.2f}' for s in copies)}); "
        f"import / COPY = {result.ratio:.2f} -> {'OK' if result.ratio <= 2 else 'MISSED'} "
        f"(target <= 2)",
        flush=True,
    )
    return result


async def profile(admin: asyncpg.Connection, db: Database, data: bytes) -> None:
    await empty_tables(admin)
    tenant = await resolve_tenant(db, await make_tenant(admin))
    profiler = cProfile.Profile()
    profiler.enable()
    await time_import(db, tenant, data)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


async def run(target: DatabaseTarget, args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    today = datetime.now(UTC).date()
    admin = await asyncpg.connect(dsn(target))
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=2)
    try:
        await make_copies(admin)
        if args.profile:
            await profile(admin, db, obligations_csv(max(sizes), today, RECURRENCES))
            return
        results = []
        for size in sizes:
            data = obligations_csv(size, today, RECURRENCES)
            results.append(await measure(admin, db, "mixed", data, size, args.rounds))
        single_rows = max(sizes)
        single = await measure(
            admin,
            db,
            "one-off",
            obligations_csv(single_rows, today, ("none",)),
            single_rows,
            args.rounds,
        )

        first, last = results[0], results[-1]
        growth = (last.import_s / last.rows) / (first.import_s / first.rows)
        print(
            f"cost per row: {first.import_s / first.rows * 1e6:.1f} us at {first.rows:,} rows, "
            f"{last.import_s / last.rows * 1e6:.1f} us at {last.rows:,} rows "
            f"({first.rows_per_s:,.0f} vs {last.rows_per_s:,.0f} rows/s; x{growth:.2f}) -> "
            f"{'OK' if growth <= 1.25 else 'MISSED'} (target: linear, within 1.25x)"
        )
        copy_growth = (last.copy_s / last.rows) / (first.copy_s / first.rows)
        print(
            f"PostgreSQL's own COPY of the same rows, for scale: x{copy_growth:.2f} per row "
            f"from {first.rows:,} to {last.rows:,} rows (the tables' indexes grow too)"
        )
        worst = max(result.ratio for result in [*results, single])
        print(
            f"import / COPY, worst of all sizes: {worst:.2f} -> "
            f"{'OK' if worst <= 2 else 'MISSED'} (target <= 2)"
        )
        print(
            f"{single.rows:,} one-off rows: {single.import_s:.2f} s -> "
            f"{'OK' if single.import_s < SINGLE_LIMIT_S else 'MISSED'} "
            f"(target < {SINGLE_LIMIT_S:.0f} s)"
        )

        with tempfile.TemporaryDirectory(prefix="intrex-import-bench-") as folder:
            for size in sizes:
                await empty_tables(admin)
                path = Path(folder) / f"obligations-{size}.csv"
                path.write_bytes(obligations_csv(size, today, RECURRENCES))
                wall, peak, reply = child_import(target, path, await make_tenant(admin))
                assert reply["rows"] == size, reply
                verdict = ""
                if size == max(sizes):
                    verdict = f" -> {'OK' if peak < RSS_LIMIT_MB else 'MISSED'} (target < 300 MB)"
                print(
                    f"intrex import obligations ({size:,} rows) as a child process: "
                    f"{wall:.2f} s wall, Python's start included; peak RSS {peak:.0f} MB{verdict}",
                    flush=True,
                )
    finally:
        await db.dispose()
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="rows of the mixed files")
    parser.add_argument("--rounds", type=int, default=3, help="imports (and COPYs) per size")
    parser.add_argument("--profile", action="store_true", help="cProfile one largest import")
    args = parser.parse_args()
    async with server() as admin_server, scratch_database(admin_server) as target:
        await run(target, args)


if __name__ == "__main__":
    asyncio.run(main())
