"""`intrex import domains`: a CSV of hosts to monitor, validated whole, registered whole.

Columns (SPEC §2): `hostname` (required; `HOST` or `HOST:PORT`), `port` and `branch_code`
(optional columns; an empty cell means port 443 and head office). Each row is checked as
`/adddomain` checks one host: the name's syntax, the port, the branch exists and is active,
the target is not monitored yet, and it resolves only to public addresses unless
ALLOW_PRIVATE_TARGETS; a row repeating an earlier target is refused too. Every fault of
every row is reported by its line and one fault means nothing is registered.

The work is three phases, like registering one domain, so no transaction waits on DNS:
the file is checked against the tenant in one unit of work, each distinct host is resolved
once (concurrently, at most SSL_CONCURRENCY at a time) outside any, and the rows are
checked again and inserted in a new unit of work with one set-based statement and one
audit entry. Unlike `/adddomain` no certificate is checked here: the domains are due at
once, so the scheduler's next round checks them, in the background and concurrently.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, cast, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.clock import utc_now
from core.config import Settings
from core.db.enums import BranchStatus
from core.errors import ErrorCode, PermissionDeniedError, ValidationError
from core.obligations.importer import (
    ImportRejectedError,
    RowError,
    check_columns,
    csv_records,
    decode_text,
)
from core.ssl import policy
from core.ssl.checker import Resolver
from core.ssl.hosts import HostPort, parse_host_port, parse_port
from core.ssl.models import Domain
from core.ssl.service import Units, ensure_public_target
from core.tenancy.models import Branch
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

REQUIRED_COLUMNS = ("hostname",)
OPTIONAL_COLUMNS = ("port", "branch_code")

Progress = Callable[[int, int], None]
"""Called with the rows screened so far and the rows to screen (the slow part: DNS)."""


@dataclass(frozen=True)
class DomainRow:
    """One data line: its target and branch code, each None when that cell is at fault."""

    line: int
    target: HostPort | None
    branch_code: str | None


@dataclass
class DomainImportReport:
    """What an import registered: every row, due for its first check now."""

    rows: int = 0
    targets: list[str] = field(default_factory=list)
    domain_ids: list[uuid.UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.rows, "domains": self.targets}


def parse_domains_csv(text: str) -> tuple[list[DomainRow], list[RowError]]:
    """Every data line parsed, and every fault found without the database, by line (the
    records and the header read as every import reads them: `core.obligations.importer`)."""
    errors: list[RowError] = []
    records = csv_records(text, errors)
    header = next(records, None)
    if header is None:
        raise ImportRejectedError(errors or [RowError(1, ErrorCode.import_file_empty)])
    columns = check_columns(header[1], REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    rows: list[DomainRow] = []
    first_line: dict[HostPort, int] = {}
    last = header[0]
    for line, cells in records:
        last = line
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            errors.append(
                RowError(
                    line,
                    ErrorCode.import_field_count,
                    {"fields": len(cells), "columns": len(columns)},
                )
            )
            continue
        named = {name: cell for name, cell in zip(columns, cells, strict=True) if name}
        row, faults = _parse_row(line, named)
        if row.target is not None:
            if row.target in first_line:
                faults.append(
                    RowError(line, ErrorCode.import_row_repeated, {"line": first_line[row.target]})
                )
            else:
                first_line[row.target] = line
        rows.append(row)
        errors.extend(faults)
    if not rows and not errors:
        errors.append(RowError(last, ErrorCode.import_no_rows))
    return rows, errors


def _parse_row(line: int, cells: dict[str, str]) -> tuple[DomainRow, list[RowError]]:
    """The row's target and branch code, and every fault of its cells (not just the first)."""
    faults: list[RowError] = []
    host_text = cells["hostname"].strip()
    port_text = cells.get("port", "").strip()
    target: HostPort | None = None
    try:
        target = parse_host_port(host_text)
    except ValidationError as exc:
        faults.append(RowError.of(line, exc))
    if port_text:
        try:
            port = parse_port(port_text, f"{host_text}:{port_text}")
        except ValidationError as exc:
            faults.append(RowError.of(line, exc))
            target = None
        else:
            if ":" in host_text and target is not None and target.port != port:
                faults.append(
                    RowError(line, ErrorCode.import_port_twice, {"value": host_text, "port": port})
                )
                target = None
            elif target is not None:
                target = HostPort(target.host, port)
    code_text = cells.get("branch_code", "").strip()
    code: str | None = None
    if code_text:
        try:
            code = normalise_branch_code(code_text)
        except ValidationError as exc:
            faults.append(RowError.of(line, exc))
    return DomainRow(line, target, code), faults


async def check_against_tenant(
    session: AsyncSession, actor: Actor, rows: list[DomainRow]
) -> tuple[dict[str, uuid.UUID], list[RowError]]:
    """The branches the rows name (by code), and the faults the tenant's data shows:
    a branch that does not exist or is deactivated, a target monitored already."""
    if not policy.can_add_domain(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    codes = sorted({row.branch_code for row in rows if row.branch_code})
    branches = {
        code: (branch_id, status)
        for code, branch_id, status in (
            await session.execute(
                select(Branch.code, Branch.id, Branch.status).where(Branch.code.in_(codes))
            )
        ).all()
    }
    hosts = sorted({row.target.host for row in rows if row.target})
    monitored = {
        HostPort(host, port)
        for host, port in (
            await session.execute(
                select(Domain.hostname, Domain.port).where(Domain.hostname.in_(hosts))
            )
        ).all()
    }
    faults: list[RowError] = []
    for row in rows:
        if row.branch_code:
            found = branches.get(row.branch_code)
            if found is None:
                faults.append(
                    RowError(row.line, ErrorCode.branch_not_found, {"code": row.branch_code})
                )
            elif found[1] == BranchStatus.inactive.value:
                faults.append(
                    RowError(row.line, ErrorCode.branch_inactive, {"code": row.branch_code})
                )
        if row.target is not None and row.target in monitored:
            faults.append(RowError(row.line, ErrorCode.domain_exists, {"target": str(row.target)}))
    return {code: branch_id for code, (branch_id, _) in branches.items()}, faults


async def screen_targets(
    rows: list[DomainRow],
    settings: Settings,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
) -> list[RowError]:
    """Refuse rows whose host resolves to a non-public address (unless ALLOW_PRIVATE_TARGETS):
    each distinct host is resolved once, at most SSL_CONCURRENCY at a time."""
    by_host: dict[str, list[DomainRow]] = {}
    for row in rows:
        if row.target is not None:
            by_host.setdefault(row.target.host, []).append(row)
    total = sum(len(each) for each in by_host.values())
    done = 0
    gate = asyncio.Semaphore(max(1, settings.ssl_concurrency))

    async def screen(host_rows: list[DomainRow]) -> list[RowError]:
        nonlocal done
        first = host_rows[0].target
        assert first is not None
        faults: list[RowError] = []
        async with gate:
            try:
                await ensure_public_target(first, settings, resolver)
            except ValidationError as exc:
                faults = [RowError.of(row.line, exc) for row in host_rows]
        done += len(host_rows)
        if progress is not None:
            progress(done, total)
        return faults

    if progress is not None:
        progress(0, total)
    screened = await asyncio.gather(*(screen(each) for each in by_host.values()))
    return [fault for faults in screened for fault in faults]


async def register_rows(
    session: AsyncSession,
    actor: Actor,
    rows: list[DomainRow],
    *,
    filename: str,
    now: datetime | None = None,
) -> DomainImportReport:
    """Check the rows against the tenant once more, then insert them all, due now, in one
    statement, with one `domain.import` audit entry (caller's transaction)."""
    branch_ids, faults = await check_against_tenant(session, actor, rows)
    if faults:
        raise ImportRejectedError(_by_line(faults))
    targets = [row.target for row in rows if row.target is not None]
    assert len(targets) == len(rows), "rows at fault are never registered"
    incoming = (
        func.unnest(
            cast([target.host for target in targets], ARRAY(String)),
            cast([target.port for target in targets], ARRAY(Integer)),
            cast(
                [branch_ids[row.branch_code] if row.branch_code else None for row in rows],
                ARRAY(UUID(as_uuid=True)),
            ),
        )
        .table_valued("hostname", "port", "branch_id")
        .render_derived(name="incoming")
    )
    due = utc_now(now)
    inserted = (
        await session.execute(
            insert(Domain)
            .from_select(
                ["tenant_id", "hostname", "port", "branch_id", "next_check_at"],
                select(
                    literal(actor.tenant_id, UUID(as_uuid=True)),
                    incoming.c.hostname,
                    incoming.c.port,
                    incoming.c.branch_id,
                    literal(due, DateTime(timezone=True)),
                ),
            )
            .on_conflict_do_nothing()
            .returning(Domain.id, Domain.hostname, Domain.port)
        )
    ).all()
    created = {HostPort(host, port): domain_id for domain_id, host, port in inserted}
    raced = [row for row in rows if row.target not in created]
    if raced:
        raise ImportRejectedError(
            [
                RowError(row.line, ErrorCode.domain_exists, {"target": str(row.target)})
                for row in raced
            ]
        )
    report = DomainImportReport(
        rows=len(rows),
        targets=[str(target) for target in targets],
        domain_ids=[created[target] for target in targets],
    )
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="domain.import",
        entity_type="domain",
        entity_id=None,
        after={
            "filename": filename,
            "count": report.rows,
            "domains": [
                {"id": str(domain_id), "target": target, "branch_code": row.branch_code}
                for domain_id, target, row in zip(
                    report.domain_ids, report.targets, rows, strict=True
                )
            ],
        },
        user_id=actor.user_id,
    )
    return report


async def import_domains(
    units: Units,
    data: bytes | str,
    *,
    settings: Settings,
    filename: str = "domains.csv",
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DomainImportReport:
    """Validate every row (file, tenant, DNS), then register all of them or none."""
    rows, faults = parse_domains_csv(decode_text(data))
    async with units() as (session, actor):
        _, tenant_faults = await check_against_tenant(session, actor, rows)
    faults += tenant_faults
    faults += await screen_targets(rows, settings, resolver, progress)
    if faults:
        raise ImportRejectedError(_by_line(faults))
    async with units() as (session, actor):
        return await register_rows(session, actor, rows, filename=filename, now=now)


def _by_line(faults: Iterable[RowError]) -> list[RowError]:
    """Faults in file order; a line's own faults keep the order they were found in."""
    return sorted(faults, key=lambda fault: fault.line)
