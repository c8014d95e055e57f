"""Spreadsheet files written as the rows arrive: CSV and XLSX in constant memory, safe to open.

Neither writer holds more than what it is writing now, so an export of a million rows
needs the memory of one batch. Every cell follows one rule per kind of column (`CellKind`):

- **Text** is neutralised (`neutralise`): a spreadsheet runs a cell that starts with `=`,
  `+`, `-` or `@` (and, OWASP adds, a tab or a carriage return) as a formula, so a title
  typed as `=HYPERLINK("http://evil", "Click")` would become a live link in the inspector's
  Excel. Such a cell gets a leading apostrophe, the mark spreadsheets themselves use for
  "this is text": the value is kept, visibly, and nothing runs. The same rule holds in both
  formats, so a CSV opened in Excel and an XLSX are equally safe.
- **Moments** (timestamps) are shown on the tenant's wall clock: ISO 8601 with the zone's
  offset in CSV (`2026-12-02T14:30:00+06:00`), a real date-time cell in XLSX (Excel has no
  zones, so the local time; the column header names the zone).
- **Dates** are calendar dates: `2026-12-02` in CSV, a date cell in XLSX (openpyxl gives
  date cells `yyyy-mm-dd` and date-time cells `yyyy-mm-dd h:mm:ss`).
- **Numbers** stay numbers.

XLSX (`write_xlsx`) takes rows in batches from an async iterator (a server-side cursor's
fetches). CSV (`CsvCopy`) takes PostgreSQL's own `COPY (…) TO STDOUT CSV` output, a chunk
of whole rows at a time, with every value already the cell's text (the export's statement
renders dates, times and words): PostgreSQL writes CSV at C speed, in parallel, where a
row-by-row Python writer costs several times the query. Each chunk is checked for a cell
that begins with a formula character; a chunk with none is written as it came (neutralising
would change no cell of it), and a chunk with one is parsed and every text cell of it
neutralised. CSV is UTF-8 with a byte-order mark, commas, quotes where needed and LF line
ends (PostgreSQL's): Excel reads a CSV without the mark in the machine's ANSI code page,
which turns Bengali into mojibake, and every CSV reader worth using skips the mark.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import enum
import io
import re
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

Cell = str | int | float | date | datetime | None
Row = Sequence[Cell]
Batches = AsyncIterable[Sequence[Row]]
"""Rows as a cursor delivers them: a batch at a time."""

FORMULA_STARTS = frozenset("=+-@\t\r")
"""What makes a spreadsheet treat a cell as a formula (OWASP, CSV injection)."""
TEXT_MARK = "'"
CSV_ENCODING = "utf-8-sig"
"""UTF-8 with the byte-order mark Excel needs to read it as UTF-8."""
XLSX_MAX_ROWS = 1_048_576
"""Rows of one worksheet (Excel's limit); more go on to a continuation sheet."""
XLSX_MAX_TEXT = 32_767
"""Characters of one cell (Excel's limit)."""
XLSX_TITLE_LIMIT = 31
XML_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
"""Control characters an XLSX cell cannot hold (openpyxl's `ILLEGAL_CHARACTERS_RE`)."""


class CellKind(enum.Enum):
    text = "text"
    number = "number"
    date = "date"
    moment = "moment"
    """A point in time (a `timestamptz`): shown on the tenant's wall clock."""


@dataclass(frozen=True)
class Sheet:
    """What a file says above and around its rows: a title, the headers in the reader's
    language, what kind each column is, and the tenant's time zone."""

    title: str
    headers: Sequence[str]
    kinds: Sequence[CellKind]
    timezone: str


def neutralise(value: str) -> str:
    """`value`, made inert for a spreadsheet: a leading apostrophe when it would start a
    formula, else unchanged."""
    if value and value[0] in FORMULA_STARTS:
        return TEXT_MARK + value
    return value


def _row_preparer(
    kinds: Sequence[CellKind], rules: dict[CellKind, Callable[[Any], Cell]]
) -> Callable[[Row], list[Cell]]:
    """One function that applies `rules` (by kind) to every non-empty cell of a row (the
    XLSX writer's). The columns each rule applies to are worked out once, so a row costs
    one pass over the cells that need work and nothing for the rest (numbers, dates)."""
    steps = [(index, rules[kind]) for index, kind in enumerate(kinds) if kind in rules]

    def prepare(row: Row) -> list[Cell]:
        cells = list(row)
        for index, rule in steps:
            value = cells[index]
            if value is not None:
                cells[index] = rule(value)
        return cells

    return prepare


FORMULA_CHARACTERS = re.escape("".join(sorted(FORMULA_STARTS))).encode()
FIRST_CELL_FORMULA = re.compile(b'"?[' + FORMULA_CHARACTERS + b"]")
LATER_CELL_FORMULA = re.compile(b'[,\n]"?[' + FORMULA_CHARACTERS + b"]")
"""Where a cell can begin in PostgreSQL's CSV (a chunk's start, after a delimiter or a line
end), optionally quoted, followed by a character `neutralise` marks. A cell that needs the
mark always matches; a comma or line end inside a quoted value, or a negative number, may
match too, which only costs that chunk the exact path."""


class CsvCopy:
    """A CSV file from PostgreSQL's `COPY … TO STDOUT CSV`, made safe on the way: the sink
    asyncpg's `copy_from_query` hands each chunk of whole rows to (in order, one at a time,
    reading no more until it returns).

    The byte-order mark and the headers (neutralised) are written first. A chunk in which
    no cell can begin with a formula character is written unchanged; any other chunk is
    parsed and written again with every text cell (by `sheet.kinds`: numbers stay as they
    are) through `neutralise`.
    """

    def __init__(self, stream: IO[bytes], sheet: Sheet) -> None:
        self.stream = stream
        self.texts = [index for index, kind in enumerate(sheet.kinds) if kind is CellKind.text]
        self.rewritten_chunks = 0
        stream.write(codecs.BOM_UTF8)
        stream.write(_csv_text([[neutralise(header) for header in sheet.headers]]))

    async def __call__(self, chunk: bytes) -> None:
        self.stream.write(self.made_safe(chunk))

    def made_safe(self, chunk: bytes) -> bytes:
        if FIRST_CELL_FORMULA.match(chunk) is None and LATER_CELL_FORMULA.search(chunk) is None:
            return chunk
        self.rewritten_chunks += 1
        rows = list(csv.reader(io.StringIO(chunk.decode(), newline="")))
        for row in rows:
            for index in self.texts:
                if index < len(row):
                    row[index] = neutralise(row[index])
        return _csv_text(rows)


def _csv_text(rows: Iterable[Sequence[str]]) -> bytes:
    """`rows` as CSV the way PostgreSQL writes it: quotes where needed, LF line ends. The
    csv module quotes only the line terminator's characters, so a row with a carriage
    return in a cell is quoted throughout (PostgreSQL quotes that cell)."""
    text = io.StringIO(newline="")
    minimal = csv.writer(text, lineterminator="\n")
    quoted = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        (quoted if any("\r" in cell for cell in row) else minimal).writerow(row)
    return text.getvalue().encode()


def xlsx_text(value: str) -> str:
    """A text cell for XLSX: neutralised, without the control characters XML cannot hold,
    and no longer than a cell may be."""
    cleaned = XML_ILLEGAL.sub("", value)
    return neutralise(cleaned)[:XLSX_MAX_TEXT]


class _Workbook:
    """An openpyxl write-only workbook (rows go to a temporary file as they are appended)
    that starts a continuation sheet, headers repeated, when one is full. openpyxl is
    imported here, not with the module: every `intrex` command would pay for it."""

    def __init__(self, sheet: Sheet, max_rows: int) -> None:
        from openpyxl import Workbook

        self.sheet = sheet
        self.max_rows = max_rows
        self.book = Workbook(write_only=True)
        self.zone = ZoneInfo(sheet.timezone)
        self.prepare = _row_preparer(
            sheet.kinds, {CellKind.text: xlsx_text, CellKind.moment: self._local}
        )
        self.sheets = 0
        self._new_sheet()

    def _local(self, value: datetime) -> datetime:
        return value.astimezone(self.zone).replace(tzinfo=None)

    def _new_sheet(self) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self.sheets += 1
        title = self.sheet.title if self.sheets == 1 else f"{self.sheet.title} ({self.sheets})"
        self.current = self.book.create_sheet(_sheet_title(title))
        for number, header in enumerate(self.sheet.headers, start=1):
            self.current.column_dimensions[get_column_letter(number)].width = max(
                12, min(40, len(header) + 4)
            )
        self.current.freeze_panes = "A2"
        bold = Font(bold=True)
        header_cells = []
        for header in self.sheet.headers:
            cell = WriteOnlyCell(self.current, value=xlsx_text(header))
            cell.font = bold
            header_cells.append(cell)
        self.current.append(header_cells)
        self.rows_in_sheet = 1

    def append(self, batch: Sequence[Row]) -> None:
        for row in batch:
            if self.rows_in_sheet >= self.max_rows:
                self._new_sheet()
            self.current.append(self.prepare(row))
            self.rows_in_sheet += 1

    def save(self, stream: IO[bytes]) -> None:
        self.book.save(stream)


def _sheet_title(title: str) -> str:
    """A worksheet name Excel accepts: none of `[]:*?/\\`, at most 31 characters."""
    cleaned = "".join(" " if char in "[]:*?/\\" else char for char in title).strip()
    return cleaned[:XLSX_TITLE_LIMIT] or "Sheet"


async def write_xlsx(
    stream: IO[bytes], sheet: Sheet, batches: Batches, *, max_rows: int = XLSX_MAX_ROWS
) -> int:
    """The sheet as an XLSX workbook into `stream` (binary; left open); returns the rows.

    `max_rows`: rows of a worksheet, its header included (Excel's limit).
    Building cells and zipping are CPU work: each batch is appended, and the workbook
    saved, in a worker thread (one at a time), so an event loop serving chats stays
    responsive while a large export is written.
    """
    book = await asyncio.to_thread(_Workbook, sheet, max_rows)
    count = 0
    async for batch in batches:
        await asyncio.to_thread(book.append, batch)
        count += len(batch)
    await asyncio.to_thread(book.save, stream)
    return count
