"""Exports at scale: `intrex export obligations` of 1,000,000 rows against PostgreSQL's COPY.

Seeds a scratch database with `bench.report_data.seed` (1,000 branches, 1,000,000
obligation instances), then, in the same run:

- PostgreSQL's own `COPY (SELECT …) TO STDOUT CSV` of the export's very statement and
  values (the same columns, words, names, order, time zone and row-level security: the
  runtime role in the tenant), in this process through asyncpg into a file: the reference
  rate;
- `intrex export obligations --format csv --output FILE`, the real command as a
  subprocess, timed from start to exit (start-up included), its peak RSS read from the
  kernel's accounting of that one child (`wait4`);
- `intrex obligations list --json --limit N` of every row into a file, timed the same way,
  with the COPY of the listing's own statement beside it.

Targets: the export's rate at least 0.3× COPY's, its peak RSS under 200 MB.

Runs on the server named by INTREX_BENCH_DATABASE_URL or INTREX_TEST_DATABASE_URL (an admin
URL; a scratch database is created and dropped), else on an embedded PostgreSQL.

    .venv/bin/python bench/export_bench.py [--instances 1000000] [--xlsx] [--keep | --reuse NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.common import autocommit, server
from bench.report_data import SeededCompany, describe, seed
from core.db.driver import expanded
from core.db.migrate import migrate
from core.db.session import Database
from core.db.target import DatabaseTarget, local_target
from core.reports.exports import (
    ExportFormat,
    ExportKind,
    ExportRequest,
    listing_statement,
    prepare_export,
)
from core.tenancy.scope import console_unit

INTREX = Path(sys.executable).with_name("intrex")
RATE_TARGET = 0.3
RSS_TARGET_MB = 200
BEFORE_ROWS = 118_131
"""The listing the issue measured before it streamed (369 MB, 6.8x psql's time)."""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    output_bytes: int
    lines: int


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


BEFORE = """
import asyncio, json, sys
from cli.database import open_database
from cli.obligations import owned_dict
from core.obligations.queries import list_obligations_for_admin
from core.tenancy.service import resolve_tenant

async def main() -> None:
    async with open_database() as db:
        tenant = await resolve_tenant(db, sys.argv[1])
        listing = await list_obligations_for_admin(db, tenant, limit=int(sys.argv[2]))
    data = {"ok": True, "total": listing.total, "obligations": [
        owned_dict(item, listing.owner_names.get(item.owner_user_id or 0))
        for item in listing.items]}
    sys.stdout.write(json.dumps(data, default=str, sort_keys=True) + "\\n")

asyncio.run(main())
"""
"""`intrex obligations list --json` as it was before it streamed: the whole listing built
(`list_obligations_for_admin`), then printed as one document."""


def run_cli(args: list[str], env: dict[str, str], stdout: Path | None, output: Path) -> Run:
    """The command as a subprocess: wall time, and the peak RSS of that one child."""
    command = [str(INTREX)] if INTREX.exists() else [sys.executable, "-m", "cli"]
    return run_process([*command, *args], env, stdout, output)


def run_process(argv: list[str], env: dict[str, str], stdout: Path | None, output: Path) -> Run:
    sink = stdout.open("wb") if stdout is not None else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout is not None and not isinstance(sink, int):
            sink.close()
    if child.returncode != 0:
        error = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{' '.join(argv[1:3])} … exited {child.returncode}: {error}")
    return Run(seconds, usage.ru_maxrss / 1024, output.stat().st_size, count_lines(output))


async def copy_seconds(
    db: Database, tenant_id: uuid.UUID, statement: Any, values: dict[str, Any], path: Path
) -> float:
    """COPY (the statement) TO STDOUT CSV as the runtime role in the tenant, into `path`."""
    sql, arguments = expanded(statement, values)
    async with db.tenant_connection(tenant_id) as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        started = time.perf_counter()
        await driver.copy_from_query(sql, *arguments, output=str(path), format="csv")
        return time.perf_counter() - started


async def copy_export_seconds(db: Database, tenant_id: uuid.UUID, path: Path) -> float:
    """COPY of the very statement `intrex export obligations --format csv` runs, with its
    values (words, names, the tenant's today) and its time zone, into `path`."""
    async with console_unit(db, tenant_id) as (session, actor):
        prepared = await prepare_export(
            session, actor, ExportRequest(ExportKind.obligations, ExportFormat.csv)
        )
        sql, arguments = expanded(prepared.statement, prepared.values)
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        started = time.perf_counter()
        await driver.copy_from_query(sql, *arguments, output=str(path), format="csv")
        return time.perf_counter() - started


def cli_env(target: DatabaseTarget, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DATA_DIR"))}
    env["DATABASE_URL"] = target.runtime_url.render_as_string(hide_password=False)
    env["DATABASE_SYSTEM_URL"] = target.system_url.render_as_string(hide_password=False)
    env["DATA_DIR"] = str(data_dir)
    return env


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


async def measure(target: DatabaseTarget, company: SeededCompany, args: argparse.Namespace) -> None:
    db = Database(target.runtime_url, system_url=target.system_url, pool_size=1)
    with tempfile.TemporaryDirectory(prefix="intrex-export-bench-") as folder:
        work = Path(folder)
        env = cli_env(target, work / "data")
        try:
            copied = work / "copy.csv"
            exported = work / "obligations.csv"
            copies: list[float] = []
            exports: list[Run] = []
            for _ in range(args.rounds):
                copies.append(await copy_export_seconds(db, company.tenant_id, copied))
                exports.append(
                    run_cli(
                        [
                            *("export", "obligations", "--format", "csv"),
                            *("--tenant", company.tenant_name, "--output", str(exported)),
                        ],
                        env,
                        None,
                        exported,
                    )
                )
            copy_rows = count_lines(copied)
            rows = exports[-1].lines - 1
            if rows != copy_rows:
                raise SystemExit(f"the export wrote {rows:,} rows, COPY {copy_rows:,}")
            copy_time = statistics.median(copies)
            export_time = statistics.median(run.seconds for run in exports)
            peak = max(run.peak_rss_mb for run in exports)
            copy_rate = copy_rows / copy_time
            export_rate = rows / export_time
            ratio = export_rate / copy_rate
            print(
                f"COPY (the export's SELECT) TO STDOUT CSV: {copy_rows:,} rows in "
                f"{copy_time:.2f} s = {copy_rate:,.0f} rows/s "
                f"({copied.stat().st_size / 1e6:.0f} MB; runs "
                f"{', '.join(f'{seconds:.1f}' for seconds in copies)} s)"
            )
            print(
                f"intrex export obligations --format csv: {rows:,} rows in "
                f"{export_time:.2f} s (process start to exit) = {export_rate:,.0f} rows/s "
                f"({exports[-1].output_bytes / 1e6:.0f} MB; runs "
                f"{', '.join(f'{run.seconds:.1f}' for run in exports)} s)"
            )
            each = ", ".join(
                f"{seconds / run.seconds:.2f}" for seconds, run in zip(copies, exports, strict=True)
            )
            print(
                f"  rate {ratio:.2f}x COPY (medians of {args.rounds} alternated runs; "
                f"per run {each}) -> {verdict(ratio >= RATE_TARGET)} (target >= {RATE_TARGET}x)"
            )
            print(
                f"  peak RSS {peak:.0f} MB (highest run) -> "
                f"{verdict(peak < RSS_TARGET_MB)} (target < {RSS_TARGET_MB} MB)"
            )

            everything = company.instances + 1
            listing, _ = listing_statement(False, False, False)
            listed_copy = work / "listing-copy.csv"
            listing_copy_time = await copy_seconds(
                db,
                company.tenant_id,
                listing,
                {"tenant_id": company.tenant_id, "limit": everything},
                listed_copy,
            )
            listed = work / "listing.json"
            listing_run = run_cli(
                [
                    *("obligations", "list", "--json", "--limit", str(everything)),
                    *("--tenant", company.tenant_name),
                ],
                env,
                listed,
                listed,
            )
            listing_rate = company.instances / listing_run.seconds
            print(
                f"intrex obligations list --json (all {company.instances:,}): "
                f"{listing_run.seconds:.2f} s = {listing_rate:,.0f} rows/s, "
                f"{listing_run.output_bytes / 1e6:.0f} MB of JSON, "
                f"peak RSS {listing_run.peak_rss_mb:.0f} MB; COPY of the listing's SELECT "
                f"{listing_copy_time:.2f} s ({listing_copy_time / listing_run.seconds:.2f}x "
                f"the command's rate)"
            )
            sample = min(company.instances, BEFORE_ROWS)
            before_file, after_file = work / "before.json", work / "after.json"
            before = run_process(
                [sys.executable, "-c", BEFORE, company.tenant_name, str(sample)],
                env,
                before_file,
                before_file,
            )
            after = run_cli(
                [
                    *("obligations", "list", "--json", "--limit", str(sample)),
                    *("--tenant", company.tenant_name),
                ],
                env,
                after_file,
                after_file,
            )
            same = before_file.read_bytes() == after_file.read_bytes()
            print(
                f"the first {sample:,} as before (built whole, then printed): "
                f"{before.seconds:.2f} s, peak RSS {before.peak_rss_mb:.0f} MB; streamed: "
                f"{after.seconds:.2f} s, peak RSS {after.peak_rss_mb:.0f} MB; "
                f"the same bytes: {'yes' if same else 'NO'}"
            )
            if args.xlsx:
                workbook = work / "obligations.xlsx"
                xlsx = run_cli(
                    [
                        *("export", "obligations", "--format", "xlsx"),
                        *("--tenant", company.tenant_name, "--output", str(workbook)),
                    ],
                    env,
                    None,
                    workbook,
                )
                print(
                    f"intrex export obligations --format xlsx: {xlsx.seconds:.1f} s = "
                    f"{company.instances / xlsx.seconds:,.0f} rows/s, "
                    f"{xlsx.output_bytes / 1e6:.0f} MB, peak RSS {xlsx.peak_rss_mb:.0f} MB"
                )
        finally:
            await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="COPY/export pairs, alternated")
    parser.add_argument("--xlsx", action="store_true", help="also time the XLSX export")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="a database kept by an earlier --keep")
    args = parser.parse_args()

    async with server() as admin_server:
        name = args.reuse or f"intrex_bench_{uuid.uuid4().hex[:10]}"
        target = local_target(admin_server.set(database=name))
        try:
            if not args.reuse:
                await autocommit(admin_server, f'CREATE DATABASE "{name}"')
            report = await migrate(target)
            if report.missing:
                raise SystemExit("\n".join(report.missing))
            if args.reuse:
                company = await describe(target)
            else:
                company = await seed(
                    target, branches=args.branches, instances=args.instances, alerts=0
                )
                print(
                    f"seeded {company.instances:,} instances for {company.branches:,} "
                    f"branches in {company.seconds:.0f} s"
                )
            await measure(target, company, args)
        finally:
            if args.keep or args.reuse:
                print(f"kept database {name}")
            else:
                await autocommit(admin_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
