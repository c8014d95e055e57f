"""`intrex import obligations`: a CSV of branch obligations, validated whole, imported whole.

Columns (SPEC §2): branch_code, category, title, due_date, severity, recurrence; an
optional proof_required (yes/no). Each row becomes a template bound to its branch,
anchored on its due date, with instances for that date and the series up to the horizon.
Every row is checked first, against the file and against the tenant's branches, and each
bad row is reported by its line number; one bad row means nothing is imported. The import
runs in one transaction, so a failure half-way leaves nothing behind either. Importing
the same file again adds nothing: rows match the templates they created before.
`dry_run` runs the very same work and rolls it back, so its counts are exact.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from core.audit import record
from core.clock import utc_now
from core.db.enums import ObligationCategory, Severity
from core.db.session import Database
from core.errors import ValidationError
from core.obligations.generation import DEFAULT_HORIZON_MONTHS, generate_instances
from core.obligations.models import ObligationTemplate
from core.obligations.recurrence import Recurrence
from core.obligations.schedule import tenant_today
from core.tenancy.models import Branch, Tenant
from core.tenancy.service import BRANCH_CODE

REQUIRED_COLUMNS = ("branch_code", "category", "title", "due_date", "severity", "recurrence")
OPTIONAL_COLUMNS = ("proof_required",)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE_WORDS = {"yes", "y", "true", "1"}
FALSE_WORDS = {"no", "n", "false", "0", ""}
CHUNK_ROWS = 500
MAX_REPORTED_ERRORS = 50

Progress = Callable[[int], None]
"""Called with the number of rows just processed."""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRejectedError(ValidationError):
    """The file has bad rows; nothing was imported. `errors` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        shown = "\n".join(str(error) for error in errors[:MAX_REPORTED_ERRORS])
        more = len(errors) - MAX_REPORTED_ERRORS
        if more > 0:
            shown += f"\n… and {more} more"
        super().__init__(
            f"Nothing was imported: {len(errors)} bad row(s).\n{shown}"
            if errors and errors[0].line > 1
            else f"Nothing was imported.\n{shown}"
        )
        self.errors = errors


@dataclass(frozen=True)
class ImportRow:
    line: int
    branch_code: str
    category: ObligationCategory
    title: str
    due_date: date
    severity: Severity
    recurrence: Recurrence
    proof_required: bool

    @property
    def key(self) -> tuple[str, str, str, str, date]:
        return (
            self.branch_code,
            self.category.value,
            self.title.casefold(),
            self.recurrence.value,
            self.due_date,
        )


def _enum_value(value: str, members: list[str], what: str) -> str:
    cleaned = value.strip().lower().replace(" ", "_")
    if cleaned not in members:
        raise ValueError(f"{what} {value.strip()!r} is not one of {', '.join(members)}")
    return cleaned


def _parse_row(line: int, cells: dict[str, str]) -> ImportRow:
    code = cells["branch_code"].strip().upper()
    if not BRANCH_CODE.fullmatch(code):
        raise ValueError(f"branch_code {cells['branch_code'].strip()!r} is not a branch code")
    category = ObligationCategory(
        _enum_value(cells["category"], [c.value for c in ObligationCategory], "category")
    )
    title = " ".join(cells["title"].split())
    if not title:
        raise ValueError("title is empty")
    if len(title) > 300:
        raise ValueError("title is longer than 300 characters")
    raw_date = cells["due_date"].strip()
    if not ISO_DATE.fullmatch(raw_date):
        raise ValueError(f"due_date {raw_date!r} is not a date in the form YYYY-MM-DD")
    try:
        due = date.fromisoformat(raw_date)
    except ValueError:
        raise ValueError(f"due_date {raw_date!r} is not a real date") from None
    severity = Severity(_enum_value(cells["severity"], [s.value for s in Severity], "severity"))
    recurrence_text = cells["recurrence"].strip() or Recurrence.none.value
    recurrence = Recurrence(
        _enum_value(recurrence_text, [r.value for r in Recurrence], "recurrence")
    )
    proof_text = cells.get("proof_required", "").strip().lower()
    if proof_text not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(f"proof_required {proof_text!r} is not yes or no")
    return ImportRow(
        line=line,
        branch_code=code,
        category=category,
        title=title,
        due_date=due,
        severity=severity,
        recurrence=recurrence,
        proof_required=proof_text in TRUE_WORDS,
    )


def decode_csv(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejectedError(
            [RowError(1, f"the file is not UTF-8 text (byte {exc.start} cannot be read)")]
        ) from exc


def parse_obligations_csv(text: str) -> tuple[list[ImportRow], list[RowError]]:
    """Every row parsed, and every problem by line (checks that need no database)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRejectedError([RowError(1, "the file is empty")]) from None
    except csv.Error as exc:
        raise ImportRejectedError([RowError(1, f"not valid CSV: {exc}")]) from exc
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and name]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    header_errors = []
    if missing:
        header_errors.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        header_errors.append(f"unknown column(s): {', '.join(unknown)}")
    if duplicated:
        header_errors.append(f"repeated column(s): {', '.join(duplicated)}")
    if header_errors:
        expected = ", ".join(REQUIRED_COLUMNS)
        raise ImportRejectedError(
            [RowError(1, "; ".join(header_errors) + f" (expected: {expected})")]
        )

    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str, str, str, date], int] = {}
    previous_end = reader.line_num
    while True:
        line = previous_end + 1
        try:
            record_cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(line, f"not valid CSV: {exc}"))
            break
        previous_end = reader.line_num
        if not any(cell.strip() for cell in record_cells):
            continue
        if len(record_cells) != len(columns):
            errors.append(
                RowError(line, f"has {len(record_cells)} fields, the header has {len(columns)}")
            )
            continue
        cells = dict(zip(columns, record_cells, strict=True))
        try:
            row = _parse_row(line, cells)
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if row.key in seen:
            errors.append(RowError(line, f"repeats line {seen[row.key]}"))
            continue
        seen[row.key] = line
        rows.append(row)
    if not rows and not errors:
        errors.append(RowError(previous_end, "the file has a header but no rows"))
    return rows, errors


@dataclass
class ImportReport:
    rows: int = 0
    templates_created: int = 0
    templates_existing: int = 0
    instances_created: int = 0
    dry_run: bool = False
    template_ids: list[uuid.UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "templates_created": self.templates_created,
            "templates_existing": self.templates_existing,
            "instances_created": self.instances_created,
            "dry_run": self.dry_run,
        }


class _RollBack(Exception):
    """Raised inside a dry run's unit of work so that it rolls back."""


def _template_key(template: ObligationTemplate, code: str) -> tuple[str, str, str, str, date]:
    assert template.anchor_date is not None
    return (
        code,
        template.category.value,
        template.title.casefold(),
        template.recurrence_type,
        template.anchor_date,
    )


async def import_obligations(
    db: Database,
    tenant: Tenant,
    data: bytes | str,
    *,
    filename: str = "obligations.csv",
    dry_run: bool = False,
    progress: Progress | None = None,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    now: datetime | None = None,
) -> ImportReport:
    """Validate every row, then import all of them in one transaction (or none)."""
    text = decode_csv(data) if isinstance(data, bytes) else data
    rows, errors = parse_obligations_csv(text)
    report = ImportReport(rows=len(rows), dry_run=dry_run)
    try:
        async with db.tenant_uow(tenant.id) as session:
            branches = {
                b.code: b
                for b in await session.scalars(select(Branch).where(Branch.tenant_id == tenant.id))
            }
            for row in rows:
                if row.branch_code not in branches:
                    errors.append(
                        RowError(row.line, f"tenant {tenant.name} has no branch {row.branch_code}")
                    )
            existing: dict[tuple[str, str, str, str, date], ObligationTemplate] = {}
            codes = {branch.id: code for code, branch in branches.items()}
            for template in await session.scalars(
                select(ObligationTemplate).where(
                    ObligationTemplate.tenant_id == tenant.id,
                    ObligationTemplate.branch_id.is_not(None),
                    ObligationTemplate.anchor_date.is_not(None),
                )
            ):
                assert template.branch_id is not None
                existing[_template_key(template, codes[template.branch_id])] = template
            for row in rows:
                match = existing.get(row.key)
                if match is not None and match.severity is not row.severity:
                    errors.append(
                        RowError(
                            row.line,
                            f"already imported with severity {match.severity.value}; "
                            "change it there rather than importing a second copy",
                        )
                    )
            if errors:
                raise ImportRejectedError(sorted(errors, key=lambda error: error.line))

            today = await tenant_today(session, tenant.id, utc_now(now))
            for start in range(0, len(rows), CHUNK_ROWS):
                chunk = rows[start : start + CHUNK_ROWS]
                fresh = [row for row in chunk if row.key not in existing]
                reused = [existing[row.key].id for row in chunk if row.key in existing]
                created_ids: list[uuid.UUID] = []
                if fresh:
                    created_ids = list(
                        await session.scalars(
                            insert(ObligationTemplate)
                            .values(
                                [
                                    {
                                        "tenant_id": tenant.id,
                                        "branch_id": branches[row.branch_code].id,
                                        "category": row.category,
                                        "title": row.title,
                                        "recurrence_type": row.recurrence.value,
                                        "severity": row.severity,
                                        "proof_required": row.proof_required,
                                        "anchor_date": row.due_date,
                                    }
                                    for row in fresh
                                ]
                            )
                            .returning(ObligationTemplate.id)
                        )
                    )
                report.templates_created += len(created_ids)
                report.templates_existing += len(reused)
                report.template_ids.extend(created_ids)
                report.instances_created += await generate_instances(
                    session,
                    tenant_id=tenant.id,
                    today=today,
                    horizon_months=horizon_months,
                    template_ids=created_ids + reused,
                    with_anchor=True,
                )
                if progress is not None:
                    progress(len(chunk))
            await record(
                session,
                tenant_id=tenant.id,
                action="obligation.import",
                entity_type="obligation_template",
                entity_id=None,
                after={
                    "filename": filename,
                    **report.as_dict(),
                    "template_ids": [str(i) for i in report.template_ids],
                },
            )
            if dry_run:
                raise _RollBack
    except _RollBack:
        pass
    return report
