"""Exports (SPEC §7) of a seeded company, read back as a spreadsheet reads them.

Acme (Asia/Dhaka, UTC+6) has DHK-01 and CTG-02. Its obligations are one-offs made by the
real service, with titles typed to attack a spreadsheet (`=HYPERLINK(…)`, `+…`, `-…`,
`@…`); one is completed and one waived by the real actions at fixed moments, so their
local times are known: 20:30 UTC on 10 May is 02:30 on 11 May in Dhaka. Every export is
written by `prepare_export(...).write`, as the CLI and the bot write it, and opened with
openpyxl or the csv module.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

from core.db.enums import (
    AppRole,
    ConnectorType,
    Language,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    Severity,
    SslCheckStatus,
)
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError
from core.i18n import texts_for
from core.notify.events import emit_event
from core.notify.models import Connector, NotificationDelivery
from core.obligations.actions import complete_obligation, waive_obligation
from core.obligations.manage import OneOffSpec, add_obligation
from core.reports.exports import (
    COLUMNS,
    ExportFormat,
    ExportKind,
    ExportRequest,
    can_export,
    prepare_export,
)
from core.reports.sheets import (
    CSV_ENCODING,
    CellKind,
    CsvCopy,
    Row,
    Sheet,
    neutralise,
    write_xlsx,
)
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.scope import ActorUnits, console_unit
from tests.companies import Company, company, person

HYPERLINK = '=HYPERLINK("http://x","y")'
COMPLETED_AT = datetime(2026, 5, 10, 20, 30, tzinfo=UTC)
WAIVED_AT = datetime(2026, 5, 10, 9, 15, tzinfo=UTC)
EN_HEADERS = [
    "Obligation id",
    "Branch code",
    "Branch",
    "Title",
    "Category",
    "Severity",
    "Status",
    "Due date",
    "Owner",
    "Completed at (Asia/Dhaka)",
    "Completed by",
    "Waived at (Asia/Dhaka)",
    "Waived by",
    "Waiver reason",
]


@dataclass
class Acme:
    company: Company
    manager: ActorUnits
    operator: ActorUnits
    ids: dict[str, uuid.UUID]
    due: date


@pytest.fixture
async def acme(db: Database) -> Acme:
    acme = await company(db)
    tenant = acme.tenant
    manager = await person(db, tenant, AppRole.branch_manager, [acme.dhaka], name="Karim Ahmed")
    operator = await person(db, tenant, AppRole.operator, [acme.dhaka], name="Rina Das")
    async with console_unit(db, tenant.id) as (_, actor):
        due = actor.today + timedelta(days=20)
    titles = {
        HYPERLINK: ("DHK-01", manager.user_id),
        "+1 fire drill": ("DHK-01", None),
        "-2 days late": ("CTG-02", None),
        "@SUM(A1:A9)": ("CTG-02", None),
    }
    ids = {}
    async with console_unit(db, tenant.id) as (session, actor):
        for title, (code, owner) in titles.items():
            view = await add_obligation(
                session,
                actor,
                OneOffSpec(
                    branch_code=code,
                    category=ObligationCategory.fire_safety,
                    title=title,
                    due=due,
                    severity=Severity.high,
                    owner_user_id=owner,
                ),
            )
            ids[title] = view.id
    async with manager(now=COMPLETED_AT) as (session, actor):
        await complete_obligation(session, actor, ids["+1 fire drill"], now=COMPLETED_AT)
    async with console_unit(db, tenant.id, now=WAIVED_AT) as (session, actor):
        await waive_obligation(
            session, actor, ids["@SUM(A1:A9)"], "=cmd|' /C calc'!A0", now=WAIVED_AT
        )
    return Acme(acme, manager, operator, ids, due)


async def export_bytes(
    db: Database, units: ActorUnits | None, tenant_id: uuid.UUID, request: ExportRequest
) -> tuple[bytes, str]:
    """The file an actor (None: the command line) gets, and its name."""
    target = io.BytesIO()
    opened = units() if units is not None else console_unit(db, tenant_id)
    async with opened as (session, actor):
        prepared = await prepare_export(session, actor, request)
        await prepared.write(target)
    return target.getvalue(), prepared.filename


def sheet_rows(data: bytes) -> tuple[Worksheet, list[tuple[object, ...]]]:
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    assert isinstance(sheet, Worksheet)
    return sheet, [tuple(cell.value for cell in row) for row in sheet.iter_rows()]


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the byte-order mark to read UTF-8"
    return list(csv.reader(io.StringIO(data.decode(CSV_ENCODING), newline="")))


def by_title(rows: list[list[str]] | list[tuple[object, ...]]) -> dict[object, object]:
    return {row[3]: row for row in rows[1:]}


async def test_the_xlsx_opens_and_holds_every_row_safely_in_local_time(
    db: Database, acme: Acme
) -> None:
    data, filename = await export_bytes(
        db, None, acme.company.tenant.id, ExportRequest(ExportKind.obligations, ExportFormat.xlsx)
    )
    async with console_unit(db, acme.company.tenant.id) as (_, actor):
        assert filename == f"obligations-{actor.today.isoformat()}.xlsx"
    sheet, rows = sheet_rows(data)
    assert sheet.title == "Obligations"
    assert list(rows[0]) == EN_HEADERS
    assert len(rows) == 1 + 4
    assert [row[1] for row in rows[1:]] == ["CTG-02", "CTG-02", "DHK-01", "DHK-01"]
    titled = by_title(rows)
    assert set(titled) == {"'" + HYPERLINK, "'+1 fire drill", "'-2 days late", "'@SUM(A1:A9)"}
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula: {cell.value!r}"
    link = titled["'" + HYPERLINK]
    assert isinstance(link, tuple)
    assert link[0] == str(acme.ids[HYPERLINK])
    assert link[4:9] == (
        "fire safety",
        "high",
        "upcoming",
        datetime.combine(acme.due, datetime.min.time()),
        "Karim Ahmed",
    )
    done = titled["'+1 fire drill"]
    assert isinstance(done, tuple)
    assert done[6] == "completed"
    assert done[9] == datetime(2026, 5, 11, 2, 30), "20:30 UTC is 02:30 the next day in Dhaka"
    assert done[10] == "Karim Ahmed"
    waived = titled["'@SUM(A1:A9)"]
    assert isinstance(waived, tuple)
    assert waived[6] == "waived"
    assert waived[11] == datetime(2026, 5, 10, 15, 15)
    assert waived[13] == "'=cmd|' /C calc'!A0"
    due_cell = sheet.cell(row=2, column=8)
    assert isinstance(due_cell, Cell)
    assert due_cell.is_date
    assert due_cell.number_format == "yyyy-mm-dd"


async def test_the_csv_is_neutralised_and_shows_the_zone_offset(db: Database, acme: Acme) -> None:
    data, filename = await export_bytes(
        db, None, acme.company.tenant.id, ExportRequest(ExportKind.obligations, ExportFormat.csv)
    )
    assert filename.endswith(".csv")
    rows = csv_rows(data)
    assert rows[0] == EN_HEADERS
    titled = by_title(rows)
    assert set(titled) == {"'" + HYPERLINK, "'+1 fire drill", "'-2 days late", "'@SUM(A1:A9)"}
    done = titled["'+1 fire drill"]
    assert isinstance(done, list)
    assert done[9] == "2026-05-11T02:30:00+06:00"
    assert done[7] == acme.due.isoformat()
    waived = titled["'@SUM(A1:A9)"]
    assert isinstance(waived, list)
    assert (waived[11], waived[13]) == ("2026-05-10T15:15:00+06:00", "'=cmd|' /C calc'!A0")
    assert all(not cell or cell[0] not in "=+-@\t\r" for row in rows for cell in row)


def test_every_formula_start_is_neutralised_and_nothing_else() -> None:
    for dangerous in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert neutralise(dangerous) == "'" + dangerous
    for harmless in ("", "Fire drill", "1-2", "a=b", "'quoted", "৳ ১০০"):
        assert neutralise(harmless) == harmless


async def batches_of(*batches: Sequence[Row]) -> AsyncIterator[Sequence[Row]]:
    for batch in batches:
        yield batch


async def test_the_xlsx_writer_cleans_cells_and_continues_a_full_sheet() -> None:
    sheet = Sheet(
        title="Notes: a/b",
        headers=["Note", "When", "Count"],
        kinds=[CellKind.text, CellKind.moment, CellKind.number],
        timezone="America/St_Johns",
    )
    rows: list[Row] = [
        ("\tindented", datetime(2026, 5, 10, 20, 30, tzinfo=UTC), 1),
        ("bell\x07 inside", None, -2),
        ("\rreturn", datetime(2026, 1, 10, 20, 30, tzinfo=UTC), 3),
    ]
    book = io.BytesIO()
    assert await write_xlsx(book, sheet, batches_of(rows[:2], rows[2:]), max_rows=3) == 3
    workbook = load_workbook(io.BytesIO(book.getvalue()))
    assert workbook.sheetnames == ["Notes  a b", "Notes  a b (2)"]
    first, second = ([[c.value for c in row] for row in ws.iter_rows()] for ws in workbook)
    assert first == [
        ["Note", "When", "Count"],
        ["'\tindented", datetime(2026, 5, 10, 18, 0), 1],
        ["bell inside", None, -2],
    ]
    # XML reads a carriage return back as a line feed; the mark is what matters.
    assert second == [["Note", "When", "Count"], ["'\nreturn", datetime(2026, 1, 10, 17, 0), 3]]


NOTES = Sheet(
    title="Notes",
    headers=["@Note", "Count", "Comment"],
    kinds=[CellKind.text, CellKind.number, CellKind.text],
    timezone="UTC",
)


def copied(rows: list[list[str]]) -> bytes:
    """`rows` as COPY … CSV writes them: a value with a comma, quote, CR or LF (or an empty
    string, told from NULL) in quotes, quotes doubled, LF line ends."""

    def field(value: str) -> str:
        if value == "" or any(char in value for char in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(",".join(map(field, row)) + "\n" for row in rows).encode()


async def test_csv_from_copy_passes_clean_chunks_and_neutralises_the_others() -> None:
    target = io.BytesIO()
    sink = CsvCopy(target, NOTES)
    clean = copied([["Fire drill", "3", "done, on time"], ["1-2 people", "0", ""]])
    await sink(clean)
    assert sink.rewritten_chunks == 0
    await sink(copied([["=HYPERLINK(1)", "-2", "a\n+b"], ["ok", "-7", "@x"]]))
    await sink(copied([["\tindented", "1", "\rreturn"]]))
    assert sink.rewritten_chunks == 2
    data = target.getvalue()
    assert data.startswith(b"\xef\xbb\xbf'@Note,Count,Comment\n" + clean)
    assert csv_rows(data) == [
        ["'@Note", "Count", "Comment"],
        ["Fire drill", "3", "done, on time"],
        ["1-2 people", "0", ""],
        ["'=HYPERLINK(1)", "-2", "a\n+b"],
        ["ok", "-7", "'@x"],
        ["'\tindented", "1", "'\rreturn"],
    ]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.text(alphabet="ab=+-@\t\r\n,\"' ৳", max_size=6),
            st.integers(min_value=-99, max_value=99),
            st.text(alphabet="ab=+-@\t\r\n,\"' ৳", max_size=6),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_csv_from_copy_neutralises_exactly_what_neutralise_would(
    rows: list[tuple[str, int, str]],
) -> None:
    """Whatever the text, every text cell reads back as `neutralise` makes it and every
    number as it was, whether the chunk was passed through or rewritten."""
    cells = [[first, str(count), last] for first, count, last in rows]
    target = io.BytesIO()
    asyncio.run(CsvCopy(target, NOTES)(copied(cells)))
    assert csv_rows(target.getvalue())[1:] == [
        [neutralise(first), count, neutralise(last)] for first, count, last in cells
    ]


async def test_bengali_headers_and_words(db: Database, acme: Acme) -> None:
    data, _ = await export_bytes(
        db,
        None,
        acme.company.tenant.id,
        ExportRequest(ExportKind.obligations, ExportFormat.xlsx, language=Language.bn),
    )
    _, rows = sheet_rows(data)
    bengali = texts_for(Language.bn)
    assert rows[0][0] == bengali.gettext("Obligation id")
    assert rows[0][9] == bengali.gettext("{column} ({zone})").format(
        column=bengali.gettext("Completed at"), zone="Asia/Dhaka"
    )
    for header in rows[0]:
        assert isinstance(header, str)
        assert any("\u0980" <= char <= "\u09ff" for char in header), header
    done = by_title(rows)["'+1 fire drill"]
    assert isinstance(done, tuple)
    assert done[6] == bengali.gettext("completed") != "completed"


async def test_a_manager_exports_only_their_branches(db: Database, acme: Acme) -> None:
    tenant_id = acme.company.tenant.id
    data, _ = await export_bytes(
        db, acme.manager, tenant_id, ExportRequest(ExportKind.obligations, ExportFormat.csv)
    )
    rows = csv_rows(data)
    assert [row[1] for row in rows[1:]] == ["DHK-01", "DHK-01"]
    data, filename = await export_bytes(
        db,
        acme.manager,
        tenant_id,
        ExportRequest(ExportKind.obligations, ExportFormat.csv, branch_code="dhk-01"),
    )
    assert len(csv_rows(data)) == 3
    assert filename.startswith("obligations-DHK-01-")
    for code in ("CTG-02", "NOPE-9"):
        with pytest.raises(NotFoundError) as refused:
            await export_bytes(
                db, acme.manager, tenant_id, ExportRequest(ExportKind.obligations, branch_code=code)
            )
        assert refused.value.code is ErrorCode.branch_not_in_scope
    with pytest.raises(NotFoundError) as missing:
        await export_bytes(
            db, None, tenant_id, ExportRequest(ExportKind.obligations, branch_code="NOPE-9")
        )
    assert missing.value.code is ErrorCode.branch_not_found
    with pytest.raises(PermissionDeniedError) as audit:
        await export_bytes(db, acme.manager, tenant_id, ExportRequest(ExportKind.audit))
    assert audit.value.code is ErrorCode.head_office_only
    for kind in ExportKind:
        with pytest.raises(PermissionDeniedError):
            await export_bytes(db, acme.operator, tenant_id, ExportRequest(kind))
    async with acme.manager() as (_, manager), acme.operator() as (_, operator):
        assert [can_export(manager, kind) for kind in ExportKind] == [True, True, False, True]
        assert not any(can_export(operator, kind) for kind in ExportKind)


async def test_rows_come_from_the_cursor_a_batch_at_a_time(db: Database, acme: Acme) -> None:
    async with console_unit(db, acme.company.tenant.id) as (session, actor):
        prepared = await prepare_export(
            session, actor, ExportRequest(ExportKind.obligations), batch_rows=3
        )
        sizes = [len(batch) async for batch in prepared.batches()]
    assert sizes == [3, 1]


async def test_an_export_abandoned_midway_leaves_the_connection_usable(
    db: Database, acme: Acme
) -> None:
    async with console_unit(db, acme.company.tenant.id) as (session, actor):
        prepared = await prepare_export(
            session, actor, ExportRequest(ExportKind.obligations), batch_rows=1
        )
        batches = prepared.batches()
        first = await anext(batches)
        await batches.aclose()
        assert len(first) == 1
        again = await prepare_export(
            session, actor, ExportRequest(ExportKind.obligations, ExportFormat.csv)
        )
        target = io.BytesIO()
        assert await again.write(target) == 4
    assert gc.isenabled(), "the collector runs again once the rows are written"


async def test_domains_audit_and_deliveries(db: Database, acme: Acme) -> None:
    tenant = acme.company.tenant
    checked = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)
    async with db.tenant_uow(tenant.id) as session:
        shop = Domain(
            tenant_id=tenant.id,
            branch_id=acme.company.dhaka.id,
            hostname="shop.acme.example",
            port=443,
            status=SslCheckStatus.expired,
            last_checked_at=checked,
        )
        head = Domain(tenant_id=tenant.id, hostname="acme.example", port=8443)
        session.add_all([shop, head])
        await session.flush()
        session.add(
            SslCheckResult(
                tenant_id=tenant.id,
                domain_id=shop.id,
                check_status=SslCheckStatus.expired,
                valid_to=datetime(2026, 4, 30, 23, 0, tzinfo=UTC),
                days_remaining=-1,
                issuer_cn="=Evil CA",
                checked_at=checked,
            )
        )
        connector = Connector(
            tenant_id=tenant.id,
            type=ConnectorType.webhook,
            name="ops",
            config_encrypted_json="x",
        )
        session.add(connector)
        await session.flush()
        event = await emit_event(
            session,
            tenant_id=tenant.id,
            event_type=NotificationEventType.ssl_failure,
            severity=Severity.critical,
            fingerprint=f"export-{uuid.uuid4().hex}",
            payload={"host": "shop.acme.example"},
            branch_id=acme.company.chattogram.id,
        )
        assert event is not None
        session.add(
            NotificationDelivery(
                tenant_id=tenant.id,
                notification_event_id=event.id,
                connector_id=connector.id,
                recipient_ref="-",
                attempt_no=2,
                delivery_status=NotificationStatus.dead_letter,
                error="-HTTP 500 from receiver",
            )
        )

    data, _ = await export_bytes(
        db, None, tenant.id, ExportRequest(ExportKind.domains, ExportFormat.csv)
    )
    rows = csv_rows(data)
    assert rows[0][:4] == ["Host", "Port", "Branch code", "Status"]
    assert [row[:4] for row in rows[1:]] == [
        ["acme.example", "8443", "", ""],
        ["shop.acme.example", "443", "DHK-01", "expired"],
    ]
    assert rows[2][4:7] == ["2026-05-01T05:00:00+06:00", "-1", "'=Evil CA"]
    manager_rows = csv_rows(
        (
            await export_bytes(
                db, acme.manager, tenant.id, ExportRequest(ExportKind.domains, ExportFormat.csv)
            )
        )[0]
    )
    assert [row[0] for row in manager_rows[1:]] == ["shop.acme.example"]

    data, _ = await export_bytes(db, None, tenant.id, ExportRequest(ExportKind.deliveries))
    _, delivered = sheet_rows(data)
    assert len(delivered) == 2
    assert delivered[1][2:10] == (
        "certificate check failed",
        "critical",
        "CTG-02",
        "ops",
        "webhook",
        "'-",
        2,
        "dead letter",
    )
    assert delivered[1][12] == "'-HTTP 500 from receiver"
    data, _ = await export_bytes(db, acme.manager, tenant.id, ExportRequest(ExportKind.deliveries))
    assert len(sheet_rows(data)[1]) == 1, "CTG-02's deliveries are not the DHK-01 manager's"

    data, _ = await export_bytes(
        db, None, tenant.id, ExportRequest(ExportKind.audit, ExportFormat.csv)
    )
    audit = csv_rows(data)
    assert audit[0] == [
        "Entry",
        "Time (Asia/Dhaka)",
        "Who",
        "Action",
        "Entity",
        "Entity id",
        "Before",
        "After",
    ]
    actions = [row[3] for row in audit[1:]]
    assert actions.count("branch.create") == 2
    created = [row for row in audit[1:] if row[3] == "branch.create"]
    assert {row[2] for row in created} == {"the command line or Intrex itself"}
    assert (actions.count("obligation.add"), actions.count("obligation.waive")) == (4, 1)
    completed = next(row for row in audit[1:] if row[3] == "obligation.complete")
    assert (completed[2], completed[5]) == ("Karim Ahmed", str(acme.ids["+1 fire drill"]))
    assert '"status": "completed"' in completed[7]
    assert all(row[1].endswith("+06:00") for row in audit[1:])
    dhaka = csv_rows(
        (
            await export_bytes(
                db,
                None,
                tenant.id,
                ExportRequest(ExportKind.audit, ExportFormat.csv, branch_code="DHK-01"),
            )
        )[0]
    )
    about = {row[5] for row in dhaka[1:]}
    assert str(acme.company.dhaka.id) in about
    assert str(acme.ids[HYPERLINK]) in about
    assert str(acme.ids["-2 days late"]) not in about
    assert len(COLUMNS[ExportKind.audit]) == len(audit[0])
