"""CSV import: every bad row named by line, nothing imported unless everything is right."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from core.db.session import Database
from core.errors import ErrorCode
from core.obligations.importer import ImportRejectedError, import_obligations
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.tenancy.models import Tenant
from tests.companies import company
from tests.core.obligations.helpers import audit_count

NOW = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)
HEADER = "branch_code,category,title,due_date,severity,recurrence\n"
GOOD = (
    HEADER
    + "DHK-01,trade_license,Trade licence renewal,2026-06-30,high,annual\n"
    + "DHK-01,tax_vat,VAT return,2026-02-15,medium,monthly\n"
    + 'ctg-02,fire_safety,"Fire drill, ground floor",2026-03-31,critical,quarterly\n'
    + "CTG-02,inspection_renewal,Lift inspection,2026-01-20,low,\n"
)


async def counts(db: Database, tenant: Tenant) -> tuple[int, int]:
    async with db.tenant_uow(tenant.id) as session:
        templates = await session.scalar(select(func.count(ObligationTemplate.id)))
        instances = await session.scalar(select(func.count(ObligationInstance.id)))
    return int(templates or 0), int(instances or 0)


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    """A company: branches DHK-01 and CTG-02."""
    return (await company(db)).tenant


async def test_bad_rows_import_nothing_and_are_named_by_line(db: Database, tenant: Tenant) -> None:
    text = (
        GOOD
        + "NOPE-9,tax_vat,VAT return,2026-02-15,medium,monthly\n"  # line 6
        + "DHK-01,parking,Parking permit,2026-02-15,medium,monthly\n"  # line 7
        + "DHK-01,tax_vat,,2026-02-15,medium,monthly\n"  # line 8
        + "DHK-01,tax_vat,Wrong date,2026-02-30,medium,monthly\n"  # line 9
        + "DHK-01,tax_vat,Wrong format,15/02/2026,medium,monthly\n"  # line 10
        + "DHK-01,tax_vat,Severity,2026-02-15,urgent,monthly\n"  # line 11
        + "DHK-01,tax_vat,Recurrence,2026-02-15,low,weekly\n"  # line 12
        + "DHK-01,tax_vat,Too few fields\n"  # line 13
        + "DHK-01,tax_vat,VAT return,2026-02-15,medium,monthly\n"  # line 14 repeats 3
    )
    with pytest.raises(ImportRejectedError) as caught:
        await import_obligations(db, tenant, text.encode(), now=NOW)
    reported = {error.line: error.message for error in caught.value.errors}
    assert sorted(reported) == list(range(6, 15))
    assert reported[6] == "There is no branch NOPE-9."
    assert "Unknown category “parking”: choose one of trade_license" in reported[7]
    assert reported[8] == "The title must not be empty."
    assert reported[9] == "due_date “2026-02-30” is not a real date"
    assert reported[10] == "due_date “15/02/2026” is not a date in the form YYYY-MM-DD"
    assert "Unknown severity “urgent”" in reported[11]
    assert "Unknown recurrence “weekly”" in reported[12]
    assert reported[13] == "has 3 fields, the header has 6"
    assert reported[14] == "repeats line 3"
    assert {error.code for error in caught.value.errors} >= {
        ErrorCode.branch_not_found,
        ErrorCode.value_unknown,
        ErrorCode.text_empty,
        ErrorCode.import_row_repeated,
    }
    assert caught.value.message.startswith("Nothing was imported: 9 bad row(s).\nline 6: There")
    assert caught.value.code is ErrorCode.import_rows_rejected
    assert await counts(db, tenant) == (0, 0)
    assert await audit_count(db, tenant, "obligation.import") == 0


async def test_header_problems_are_reported_on_line_one(db: Database, tenant: Tenant) -> None:
    with pytest.raises(ImportRejectedError, match=r"line 1: missing column\(s\): severity"):
        await import_obligations(
            db, tenant, b"branch_code,category,title,due_date,recurrence,colour\n", now=NOW
        )
    with pytest.raises(ImportRejectedError, match="not UTF-8"):
        await import_obligations(db, tenant, HEADER.encode() + b"\xff\xfe\n", now=NOW)
    with pytest.raises(ImportRejectedError, match="header but no rows"):
        await import_obligations(db, tenant, HEADER.encode(), now=NOW)


async def test_good_file_imports_all_and_again_adds_nothing(db: Database, tenant: Tenant) -> None:
    seen: list[int] = []
    dry = await import_obligations(db, tenant, GOOD, dry_run=True, now=NOW, progress=seen.append)
    assert dry.dry_run
    assert dry.templates_created == 4
    assert sum(seen) == 4
    assert await counts(db, tenant) == (0, 0)

    report = await import_obligations(db, tenant, ("\ufeff" + GOOD).encode(), now=NOW)
    assert report.as_dict() == {**dry.as_dict(), "dry_run": False}
    # annual: 2026-06-30 (1); monthly from 2026-02-15: Feb 2026 .. Jan 2027 (12);
    # quarterly from 2026-03-31: Mar, Jun, Sep, Dec (4); one-off, already overdue (1).
    assert report.instances_created == 1 + 12 + 4 + 1
    assert await counts(db, tenant) == (4, 18)
    async with db.tenant_uow(tenant.id) as session:
        lift = await session.scalar(
            select(ObligationInstance)
            .join(ObligationTemplate)
            .where(ObligationTemplate.title == "Lift inspection")
        )
        drill = await session.scalar(
            select(ObligationTemplate).where(ObligationTemplate.title.startswith("Fire drill"))
        )
    assert lift is not None
    assert lift.status.value == "overdue"
    assert lift.due_at == date(2026, 1, 20)
    assert drill is not None
    assert drill.title == "Fire drill, ground floor"
    assert await audit_count(db, tenant, "obligation.import") == 1

    again = await import_obligations(db, tenant, GOOD, now=NOW)
    assert (again.templates_created, again.templates_existing, again.instances_created) == (0, 4, 0)
    assert await counts(db, tenant) == (4, 18)


async def test_same_obligation_with_another_severity_is_refused(
    db: Database, tenant: Tenant
) -> None:
    await import_obligations(db, tenant, GOOD, now=NOW)
    changed = HEADER + "DHK-01,tax_vat,VAT return,2026-02-15,critical,monthly\n"
    with pytest.raises(ImportRejectedError, match="line 2: already imported with severity medium"):
        await import_obligations(db, tenant, changed, now=NOW)
