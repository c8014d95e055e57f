"""CSV and XLSX import: every fault of every row named by line, nothing imported unless
everything is right, a re-import adds nothing."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, update

from core.audit.models import ActivityLog
from core.db.enums import AppRole, Severity
from core.db.session import Database
from core.errors import ErrorCode
from core.obligations.importer import (
    ImportRejectedError,
    ImportReport,
    ImportStage,
    import_obligations,
)
from core.obligations.models import ObligationInstance, ObligationTemplate
from core.tenancy.models import Branch, Tenant, User
from tests.companies import Company, company, person
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
XLSX_HEADER = (
    "branch_code",
    "category",
    "title",
    "due_date",
    "severity",
    "recurrence",
    "owner",
    "grace_days",
    "proof_required",
)


async def counts(db: Database, tenant: Tenant) -> tuple[int, int]:
    async with db.tenant_uow(tenant.id) as session:
        templates = await session.scalar(select(func.count(ObligationTemplate.id)))
        instances = await session.scalar(select(func.count(ObligationInstance.id)))
    return int(templates or 0), int(instances or 0)


async def rejected(
    db: Database, tenant: Tenant, data: bytes, filename: str = "obligations.csv"
) -> dict[int, str]:
    """The faults an import of `data` is refused with, by line (several joined by ` | `)."""
    with pytest.raises(ImportRejectedError) as caught:
        await import_obligations(db, tenant, data, filename=filename, now=NOW)
    by_line: dict[int, str] = {}
    for error in caught.value.errors:
        by_line[error.line] = " | ".join(filter(None, (by_line.get(error.line), error.message)))
    assert await counts(db, tenant) == (0, 0)
    return by_line


def workbook(rows: list[tuple[object, ...]], header: tuple[str, ...] = XLSX_HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
async def firm(db: Database) -> Company:
    """A company: branches DHK-01 and CTG-02."""
    return await company(db)


@pytest.fixture
def tenant(firm: Company) -> Tenant:
    return firm.tenant


async def test_bad_rows_import_nothing_and_are_named_by_line(db: Database, tenant: Tenant) -> None:
    text = (
        GOOD
        + "NOPE-9,tax_vat,VAT return,2026-02-15,medium,monthly\n"  # line 6
        + "DHK-01,parking,Parking permit,2026-02-15,medium,monthly\n"  # line 7
        + "DHK-01,tax_vat,,2026-02-15,medium,monthly\n"  # line 8
        + "DHK-01,tax_vat,Wrong date,2026-02-30,medium,monthly\n"  # line 9
        + "DHK-01,tax_vat,Wrong format,15.02.2026,medium,monthly\n"  # line 10
        + "DHK-01,tax_vat,Severity,2026-02-15,urgent,monthly\n"  # line 11
        + "DHK-01,tax_vat,Recurrence,2026-02-15,low,weekly\n"  # line 12
        + "DHK-01,tax_vat,Too few fields\n"  # line 13
        + "DHK-01,tax_vat,VAT return,15/02/2026,medium,monthly\n"  # line 14 repeats 3
    )
    with pytest.raises(ImportRejectedError) as caught:
        await import_obligations(db, tenant, text.encode(), now=NOW)
    reported = {error.line: error.message for error in caught.value.errors}
    assert sorted(reported) == list(range(6, 15))
    assert reported[6] == "There is no branch NOPE-9."
    assert "Unknown category “parking”: choose one of trade_license" in reported[7]
    assert reported[8] == "The title must not be empty."
    assert reported[9] == "“2026-02-30” is not a real date."
    assert reported[10] == "“15.02.2026” is not a date: write YYYY-MM-DD or DD/MM/YYYY."
    assert "Unknown severity “urgent”" in reported[11]
    assert "“weekly” is not a recurrence" in reported[12]
    assert reported[13] == "has 3 fields, the header has 6"
    assert reported[14] == "repeats line 3"
    assert {error.code for error in caught.value.errors} >= {
        ErrorCode.branch_not_found,
        ErrorCode.value_unknown,
        ErrorCode.text_empty,
        ErrorCode.due_date_unreal,
        ErrorCode.due_date_format,
        ErrorCode.import_row_repeated,
    }
    assert caught.value.message.startswith("Nothing was imported: 9 bad row(s).\nline 6: There")
    assert caught.value.code is ErrorCode.import_rows_rejected
    assert caught.value.render("bn").splitlines()[1] == "লাইন ৬: NOPE-9 নামে কোনো শাখা নেই।"
    assert await counts(db, tenant) == (0, 0)
    assert await audit_count(db, tenant, "obligation.import") == 0


async def test_every_fault_of_a_line_is_reported(db: Database, tenant: Tenant) -> None:
    text = HEADER + "NOPE-9,parking,,2026-02-30,urgent,every:0\n"
    with pytest.raises(ImportRejectedError) as caught:
        await import_obligations(db, tenant, text.encode(), now=NOW)
    assert [(error.line, error.code) for error in caught.value.errors] == [
        (2, ErrorCode.branch_not_found),
        (2, ErrorCode.value_unknown),
        (2, ErrorCode.text_empty),
        (2, ErrorCode.due_date_unreal),
        (2, ErrorCode.value_unknown),
        (2, ErrorCode.recurrence_days_out_of_range),
    ]
    assert caught.value.message.startswith("Nothing was imported: 1 bad row(s).\nline 2: ")
    assert len(caught.value.message.splitlines()) == 7


async def test_dates_out_of_the_calendar_and_overflowing_recurrences_are_line_errors(
    db: Database, tenant: Tenant
) -> None:
    text = (
        HEADER
        + "DHK-01,tax_vat,Year one,0001-01-01,low,none\n"
        + "DHK-01,tax_vat,Year 9999,31/12/9999,low,monthly\n"
        + "DHK-01,tax_vat,Year zero,0000-01-01,low,none\n"
        + "DHK-01,tax_vat,Overflow,2026-03-01,low,every:99999999999\n"
        + "DHK-01,tax_vat,Too long,2026-03-01,low,every:3661\n"
    )
    reported = await rejected(db, tenant, text.encode())
    assert reported == {
        2: "The date 0001-01-01 is outside the calendar Intrex keeps (2000-01-01 to 2099-12-31).",
        3: "The date 9999-12-31 is outside the calendar Intrex keeps (2000-01-01 to 2099-12-31).",
        4: "“0000-01-01” is not a real date.",
        5: "“every:99999999999”: a recurrence of every N days needs N between 1 and 3,660.",
        6: "“every:3661”: a recurrence of every N days needs N between 1 and 3,660.",
    }


async def test_bytes_that_cannot_be_read_are_named_by_line(db: Database, tenant: Tenant) -> None:
    nul = (HEADER + "DHK-01,tax_vat,VAT\x00return,2026-02-15,medium,monthly\n").encode()
    assert await rejected(db, tenant, nul) == {2: "the title column holds a NUL byte"}
    nul_header = b"branch_code,cat\x00egory,title,due_date,severity,recurrence\n"
    assert await rejected(db, tenant, nul_header) == {1: "the category column holds a NUL byte"}

    broken = GOOD.encode() + b"DHK-01,tax_vat,VAT \xff\xfe return,2026-02-15,medium,monthly\n"
    position = len(GOOD.encode()) + len(b"DHK-01,tax_vat,VAT ") + 1
    assert await rejected(db, tenant, broken) == {
        6: f"the file is not UTF-8 text (byte {position:,} cannot be read)"
    }
    with pytest.raises(ImportRejectedError, match=r"line 1: missing column\(s\): severity"):
        await import_obligations(
            db, tenant, b"branch_code,category,title,due_date,recurrence,colour\n", now=NOW
        )
    with pytest.raises(ImportRejectedError, match="header but no rows"):
        await import_obligations(db, tenant, HEADER.encode(), now=NOW)
    with pytest.raises(ImportRejectedError, match="the file is empty"):
        await import_obligations(db, tenant, b"", now=NOW)
    unclosed = (HEADER + 'DHK-01,tax_vat,"VAT return,2026-02-15,medium,monthly\n').encode()
    assert "not valid CSV" in (await rejected(db, tenant, unclosed))[2]


async def test_good_file_imports_all_and_again_adds_nothing(db: Database, tenant: Tenant) -> None:
    seen: list[tuple[ImportStage, int, int]] = []
    dry = await import_obligations(
        db, tenant, GOOD, dry_run=True, now=NOW, progress=lambda *step: seen.append(step)
    )
    assert dry.dry_run
    assert (dry.rows, dry.branches, dry.templates_created) == (4, 2, 4)
    assert seen[0] == (ImportStage.checking, 0, 5)
    assert (ImportStage.checking, 5, 5) in seen
    assert seen[-1] == (ImportStage.writing, 4, 4)
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
        entry = await session.scalar(
            select(ActivityLog).where(ActivityLog.action == "obligation.import")
        )
    assert lift is not None
    assert lift.status.value == "overdue"
    assert lift.due_at == date(2026, 1, 20)
    assert drill is not None
    assert drill.title == "Fire drill, ground floor"
    assert (drill.grace_days, drill.proof_required, drill.owner_user_id) == (0, False, None)
    assert entry is not None
    assert entry.after_json is not None
    assert entry.after_json["templates_created"] == 4
    # Counts, not ids: an audit row of a 100,000-row file must stay small.
    assert "template_ids" not in entry.after_json
    assert entry.after_json["filename"] == "obligations.csv"

    again = await import_obligations(db, tenant, GOOD.upper().replace("DHK", "dhk"), now=NOW)
    assert (again.templates_created, again.templates_existing, again.instances_created) == (0, 4, 0)
    assert await counts(db, tenant) == (4, 18)


async def test_day_first_dates_are_read_as_day_month_year(db: Database, tenant: Tenant) -> None:
    text = (  # with the unnamed trailing columns a spreadsheet's CSV export adds
        HEADER.strip()
        + ",,\n"
        + "DHK-01,tax_vat,VAT return,05/03/2026,medium,none,,\n"
        + "DHK-01,tax_vat,Fire check,5/3/2026,medium,every:45,,\n"
        + "DHK-01,tax_vat,Rent,১০/০৩/২০২৬,medium,none,,\n"
    )
    report = await import_obligations(db, tenant, text.encode(), now=NOW)
    assert report.templates_created == 3
    async with db.tenant_uow(tenant.id) as session:
        anchors = {
            row.title: row.anchor_date
            for row in await session.execute(
                select(ObligationTemplate.title, ObligationTemplate.anchor_date)
            )
        }
        fire_dues = list(
            await session.scalars(
                select(ObligationInstance.due_at)
                .join(ObligationTemplate)
                .where(ObligationTemplate.title == "Fire check")
                .order_by(ObligationInstance.due_at)
            )
        )
    assert anchors == {
        "VAT return": date(2026, 3, 5),
        "Fire check": date(2026, 3, 5),
        "Rent": date(2026, 3, 10),
    }
    assert fire_dues[:3] == [date(2026, 3, 5), date(2026, 4, 19), date(2026, 6, 3)]


async def test_owner_grace_and_proof_columns(db: Database, firm: Company) -> None:
    tenant = firm.tenant
    admin = await person(db, tenant, AppRole.head_office_admin, email="boss@example.com")
    dhaka = await person(db, tenant, AppRole.branch_manager, [firm.dhaka], email="d@example.com")
    gone = await person(db, tenant, AppRole.operator, [firm.dhaka], email="gone@example.com")
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            update(User).where(User.id == dhaka.user_id).values(telegram_username="Rahim_D")
        )
        await session.execute(update(User).where(User.id == gone.user_id).values(status="disabled"))

    columns = HEADER.strip() + ",owner,grace_days,proof_required\n"
    bad = (
        columns
        + "DHK-01,tax_vat,A,2026-03-01,low,none,nobody@example.com,0,yes\n"  # 2 unknown
        + f"DHK-01,tax_vat,B,2026-03-01,low,none,{gone.user_id},0,yes\n"  # 3 disabled
        + "CTG-02,tax_vat,C,2026-03-01,low,none,@rahim_d,0,yes\n"  # 4 not in CTG-02
        + "DHK-01,tax_vat,D,2026-03-01,low,none,,367,maybe\n"  # 5 two faults
        + "DHK-01,tax_vat,E,2026-03-01,low,none,99999999999,-1,no\n"  # 6 two faults
    )
    reported = await rejected(db, tenant, bad.encode())
    assert reported == {
        2: "There is no user “nobody@example.com” in this tenant: give an id, an email or "
        "a @username.",
        3: f"{gone.user_id} is disabled: only an active person can own an obligation.",
        4: "@rahim_d does not work for branch CTG-02: the owner must be someone of that "
        "branch or of head office.",
        5: "grace_days “367” is not a whole number of days from 0 to 366 | "
        "proof_required “maybe” is not yes or no",
        6: "grace_days “-1” is not a whole number of days from 0 to 366 | There is no user "
        "“99999999999” in this tenant: give an id, an email or a @username.",
    }

    good = (
        columns
        + "DHK-01,tax_vat,VAT return,2026-03-01,low,monthly,@RAHIM_D,7,yes\n"
        + "CTG-02,fire_safety,Fire drill,2026-03-01,high,none,BOSS@example.com,,\n"
        + f"CTG-02,fire_safety,Lift,2026-03-01,high,none,{admin.user_id},366,no\n"
        + "DHK-01,fire_safety,Hydrant,2026-03-01,high,none,,0,Y\n"
    )
    report = await import_obligations(
        db, tenant, good.encode(), now=NOW, actor_user_id=admin.user_id
    )
    assert report.templates_created == 4
    async with db.tenant_uow(tenant.id) as session:
        templates = {
            row.title: (row.owner_user_id, row.grace_days, row.proof_required)
            for row in await session.scalars(select(ObligationTemplate))
        }
        owners = {
            (title, owner)
            for title, owner in await session.execute(
                select(ObligationTemplate.title, ObligationInstance.owner_user_id).join(
                    ObligationInstance
                )
            )
        }
        actor = await session.scalar(
            select(ActivityLog.user_id).where(ActivityLog.action == "obligation.import")
        )
    assert templates == {
        "VAT return": (dhaka.user_id, 7, True),
        "Fire drill": (admin.user_id, 0, False),
        "Lift": (admin.user_id, 366, False),
        "Hydrant": (None, 0, True),
    }
    assert owners == {
        ("VAT return", dhaka.user_id),
        ("Fire drill", admin.user_id),
        ("Lift", admin.user_id),
        ("Hydrant", None),
    }
    assert actor == admin.user_id


async def test_an_inactive_branch_is_refused(db: Database, firm: Company) -> None:
    async with db.tenant_uow(firm.tenant.id) as session:
        await session.execute(
            update(Branch).where(Branch.id == firm.chattogram.id).values(status="inactive")
        )
    text = HEADER + "CTG-02,tax_vat,VAT return,2026-03-01,low,none\n"
    assert await rejected(db, firm.tenant, text.encode()) == {
        2: "Branch CTG-02 is deactivated: activate it first."
    }


async def test_one_bad_row_among_many_imports_nothing(db: Database, tenant: Tenant) -> None:
    rows = [f"DHK-01,tax_vat,Return {n},2026-03-01,low,monthly" for n in range(1500)]
    rows[1234] = "DHK-01,tax_vat,Return bad,2026-13-01,low,monthly"
    text = HEADER + "\n".join(rows) + "\n"
    assert await rejected(db, tenant, text.encode()) == {1236: "“2026-13-01” is not a real date."}
    assert await audit_count(db, tenant, "obligation.import") == 0


async def test_same_obligation_with_another_severity_is_refused(
    db: Database, tenant: Tenant
) -> None:
    await import_obligations(db, tenant, GOOD, now=NOW)
    changed = HEADER + "DHK-01,tax_vat,VAT return,2026-02-15,critical,monthly\n"
    with pytest.raises(ImportRejectedError, match="line 2: already imported with severity medium"):
        await import_obligations(db, tenant, changed, now=NOW)


async def test_xlsx_workbook_with_typed_cells(db: Database, tenant: Tenant) -> None:
    data = workbook(
        [
            ("DHK-01", "tax_vat", "VAT return", datetime(2026, 2, 15), "medium", "monthly"),
            (
                "CTG-02",
                "fire_safety",
                "Fire drill",
                date(2026, 3, 31),
                "critical",
                "quarterly",
                None,
                14,
                True,
            ),
            ("CTG-02", "inspection_renewal", "Lift", "20/01/2026", "low", None, None, None, "no"),
            (),
            ("DHK-01", "trade_license", 2026, "2026-06-30", "high", "annual", None, 0.0, False),
        ]
    )
    report = await import_obligations(db, tenant, data, filename="upload.bin", now=NOW)
    assert isinstance(report, ImportReport)
    assert (report.rows, report.branches, report.templates_created) == (4, 2, 4)
    assert report.instances_created == 12 + 4 + 1 + 1
    async with db.tenant_uow(tenant.id) as session:
        templates = {
            row.title: (row.anchor_date, row.grace_days, row.proof_required, row.severity)
            for row in await session.scalars(select(ObligationTemplate))
        }
    assert templates == {
        "VAT return": (date(2026, 2, 15), 0, False, Severity.medium),
        "Fire drill": (date(2026, 3, 31), 14, True, Severity.critical),
        "Lift": (date(2026, 1, 20), 0, False, Severity.low),
        "2026": (date(2026, 6, 30), 0, False, Severity.high),
    }
    again = await import_obligations(db, tenant, data, filename="onboarding.xlsx", now=NOW)
    assert (again.templates_created, again.templates_existing) == (0, 4)


async def test_xlsx_faults_are_named_by_sheet_row(db: Database, tenant: Tenant) -> None:
    data = workbook(
        [
            ("DHK-01", "tax_vat", "VAT return", datetime(9999, 12, 31), "medium", "monthly"),
            ("DHK-01", "tax_vat", "", "2026-02-30", "medium", "every:99999999999"),
            ("DHK-01", "tax_vat", "Extra", "2026-02-15", "low", "none", None, 400, "x", "more"),
        ]
    )
    reported = await rejected(db, tenant, data, filename="plan.xlsx")
    assert reported == {
        2: "The date 9999-12-31 is outside the calendar Intrex keeps (2000-01-01 to 2099-12-31).",
        3: "The title must not be empty. | “2026-02-30” is not a real date. | "
        "“every:99999999999”: a recurrence of every N days needs N between 1 and 3,660.",
        4: "has 10 fields, the header has 9",
    }
    short_header = workbook([("DHK-01",)], header=("branch_code", "title"))
    assert "missing column(s): category" in (await rejected(db, tenant, short_header))[1]
    not_a_workbook = b"PK\x03\x04 this is no zip archive"
    assert await rejected(db, tenant, not_a_workbook) == {
        1: "the file is not an XLSX workbook that can be read"
    }
    assert await rejected(db, tenant, GOOD.encode(), filename="plan.xlsx") == {
        1: "the file is not an XLSX workbook that can be read"
    }
