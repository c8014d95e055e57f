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
from core.errors import ErrorCode, IntrexError, ValidationError
from core.i18n import N_
from core.i18n.errors import render_error
from core.obligations.generation import DEFAULT_HORIZON_MONTHS, generate_instances
from core.obligations.models import ObligationTemplate
from core.obligations.recurrence import Recurrence, parse_recurrence
from core.obligations.schedule import tenant_today
from core.parsing import parse_enum
from core.tenancy.models import Branch, Tenant
from core.tenancy.service import BRANCH_CODE

REQUIRED_COLUMNS = ("branch_code", "category", "title", "due_date", "severity", "recurrence")
OPTIONAL_COLUMNS = ("proof_required",)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE_WORDS = {"yes", "y", "true", "1"}
FALSE_WORDS = {"no", "n", "false", "0", ""}
CHUNK_ROWS = 500
MAX_REPORTED_ERRORS = 50
MAX_TITLE = 300

Progress = Callable[[int], None]
"""Called with the number of rows just processed."""


@dataclass(frozen=True)
class RowError:
    """What is wrong with one line of the file: a code and its parameters, like a refusal."""

    line: int
    code: ErrorCode
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, line: int, error: IntrexError) -> RowError:
        return cls(line, error.code, dict(error.params))

    def render(self, language: str) -> str:
        """The fault alone (`title is empty`), in `language`."""
        return render_error(ValidationError(self.code, **self.params), language)

    def render_line(self, language: str) -> str:
        """The fault with its line number (`line 7: title is empty`)."""
        line = ValidationError(
            ErrorCode.import_row_line, line=self.line, problem=self.render(language)
        )
        return render_error(line, language)

    @property
    def message(self) -> str:
        return self.render("en")

    def __str__(self) -> str:
        return self.render_line("en")


class ImportRejectedError(ValidationError):
    """The file has bad rows; nothing was imported. `errors` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        if errors and errors[0].line > 1:
            super().__init__(ErrorCode.import_rows_rejected, count=len(errors))
        else:
            super().__init__(ErrorCode.import_rejected)
        self.errors = errors

    def render(self, language: str) -> str:
        """The refusal and the first `MAX_REPORTED_ERRORS` faults by line, in `language`."""
        lines = [render_error(self, language)]
        lines += [error.render_line(language) for error in self.errors[:MAX_REPORTED_ERRORS]]
        more = len(self.errors) - MAX_REPORTED_ERRORS
        if more > 0:
            lines.append(
                render_error(ValidationError(ErrorCode.import_more_rows, count=more), language)
            )
        return "\n".join(lines)

    @property
    def message(self) -> str:
        return self.render("en")


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


def _parse_row(line: int, cells: dict[str, str]) -> ImportRow:
    """One row's values, or a `ValidationError` naming the first bad cell."""
    code = cells["branch_code"].strip().upper()
    if not BRANCH_CODE.fullmatch(code):
        raise ValidationError(ErrorCode.branch_code_invalid, value=cells["branch_code"].strip())
    category = parse_enum(ObligationCategory, cells["category"], N_("category"))
    title = " ".join(cells["title"].split())
    if not title:
        raise ValidationError(ErrorCode.text_empty, what=N_("title"))
    if len(title) > MAX_TITLE:
        raise ValidationError(ErrorCode.text_too_long, what=N_("title"), limit=MAX_TITLE)
    raw_date = cells["due_date"].strip()
    if not ISO_DATE.fullmatch(raw_date):
        raise ValidationError(ErrorCode.import_due_date_format, value=raw_date)
    try:
        due = date.fromisoformat(raw_date)
    except ValueError:
        raise ValidationError(ErrorCode.import_due_date_unreal, value=raw_date) from None
    severity = parse_enum(Severity, cells["severity"], N_("severity"))
    recurrence = parse_recurrence(cells["recurrence"])
    proof_text = cells.get("proof_required", "").strip().lower()
    if proof_text not in TRUE_WORDS | FALSE_WORDS:
        raise ValidationError(ErrorCode.import_proof_required_invalid, value=proof_text)
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
            [RowError(1, ErrorCode.import_not_utf8, {"position": exc.start})]
        ) from exc


def parse_obligations_csv(text: str) -> tuple[list[ImportRow], list[RowError]]:
    """Every row parsed, and every problem by line (checks that need no database)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRejectedError([RowError(1, ErrorCode.import_file_empty)]) from None
    except csv.Error as exc:
        raise ImportRejectedError(
            [RowError(1, ErrorCode.import_csv_invalid, {"error": str(exc)})]
        ) from exc
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and name]
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    header_errors = []
    if missing:
        header_errors.append(
            RowError(
                1,
                ErrorCode.import_columns_missing,
                {"columns": ", ".join(missing), "expected": ", ".join(REQUIRED_COLUMNS)},
            )
        )
    if unknown:
        header_errors.append(
            RowError(1, ErrorCode.import_columns_unknown, {"columns": ", ".join(unknown)})
        )
    if duplicated:
        header_errors.append(
            RowError(1, ErrorCode.import_columns_repeated, {"columns": ", ".join(duplicated)})
        )
    if header_errors:
        raise ImportRejectedError(header_errors)

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
            errors.append(RowError(line, ErrorCode.import_csv_invalid, {"error": str(exc)}))
            break
        previous_end = reader.line_num
        if not any(cell.strip() for cell in record_cells):
            continue
        if len(record_cells) != len(columns):
            errors.append(
                RowError(
                    line,
                    ErrorCode.import_field_count,
                    {"fields": len(record_cells), "columns": len(columns)},
                )
            )
            continue
        cells = dict(zip(columns, record_cells, strict=True))
        try:
            row = _parse_row(line, cells)
        except ValidationError as exc:
            errors.append(RowError.of(line, exc))
            continue
        if row.key in seen:
            errors.append(RowError(line, ErrorCode.import_row_repeated, {"line": seen[row.key]}))
            continue
        seen[row.key] = line
        rows.append(row)
    if not rows and not errors:
        errors.append(RowError(previous_end, ErrorCode.import_no_rows))
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
                        RowError(row.line, ErrorCode.branch_not_found, {"code": row.branch_code})
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
                            ErrorCode.import_severity_differs,
                            {"severity": match.severity},
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
