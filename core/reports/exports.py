"""Exports (SPEC §7): a tenant's obligations, domains, audit trail and deliveries as CSV or XLSX.

One statement per export gives every cell as it will read: the words for statuses,
categories and severities (the catalogue's, in the chosen language) and people's names
(`person_name`) are decided here and handed to PostgreSQL as arrays it looks up per row;
for CSV it also renders dates and times as ISO 8601 text in the tenant's zone (`to_char`
under the tenant's `TimeZone` for the transaction). Rows are never ORM objects and never
all in memory:

- CSV is PostgreSQL's `COPY (statement) TO STDOUT CSV`, streamed chunk by chunk into
  `sheets.CsvCopy`, which neutralises formula-looking cells on the way: C speed, and the
  query may run in parallel, which a cursor's may not;
- XLSX reads the statement through a server-side cursor (asyncpg's portal) a batch at a
  time, the next batch on its way while this one is written (`cursor_batches`), into
  openpyxl's write-only workbook.

Both run on the unit of work's connection, in its transaction, so row-level security
confines them to the tenant.

Who may export what is `can_export` (a pure function, asked by the surfaces and enforced
here): head office everything of the tenant, branch managers the obligations, domains and
deliveries of their branches, nobody else anything; the audit trail, which belongs to no
branch, is head office's.

`stream_obligation_listing` is `intrex obligations list --json` on the same kind of cursor:
the listing's rows as the CLI has always printed them, without holding them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import gc
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import Grouping

from core.audit.models import ActivityLog
from core.db.driver import DISCONNECTED, expanded, rows_of
from core.db.enums import (
    OPEN_OBLIGATION,
    ConnectorType,
    Language,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    ObligationStatus,
    Severity,
    SslCheckStatus,
)
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError, ValidationError
from core.i18n import N_, Texts, texts_for
from core.i18n.labels import label
from core.notify.models import Connector, NotificationDelivery, NotificationEvent
from core.obligations.models import ObligationInstance
from core.obligations.views import ObligationView, to_view, view_select
from core.reports.sheets import CellKind, CsvCopy, Sheet, write_xlsx
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch, User
from core.tenancy.names import person_name
from core.tenancy.people import find_person
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

BATCH_ROWS = 5000
"""Rows per fetch from the cursor: large enough that a round trip costs little per row,
small enough that a batch is a few megabytes."""


class ExportKind(enum.StrEnum):
    obligations = "obligations"
    domains = "domains"
    audit = "audit"
    """The audit trail (`activity_logs`)."""
    deliveries = "deliveries"
    """Every attempt to deliver an alert (`notification_deliveries`)."""


class ExportFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def can_export(actor: Actor, kind: ExportKind) -> bool:
    """Head office exports anything of the tenant; a branch manager the obligations,
    domains and deliveries of their branches (what they see in the chat); operators
    nothing. The audit trail names no branch, so it is head office's alone."""
    if kind is ExportKind.audit:
        return actor.role.head_office
    return actor.role.manages


@dataclass(frozen=True)
class ExportRequest:
    kind: ExportKind
    format: ExportFormat = ExportFormat.xlsx
    language: Language = Language.en
    """Of the headers and of the words for statuses, categories and severities."""
    branch_code: str | None = None
    """Only this branch; None: every branch in the actor's scope."""


Record = Any
"""A row as the driver returns it (an asyncpg Record: by position or by column name)."""


@dataclass(frozen=True)
class Column:
    header: str
    """A msgid, translated when the export is prepared."""
    kind: CellKind = CellKind.text


TITLES = {
    ExportKind.obligations: N_("Obligations"),
    ExportKind.domains: N_("Domains"),
    ExportKind.audit: N_("Audit trail"),
    ExportKind.deliveries: N_("Deliveries"),
}
MOMENT_HEADER = N_("{column} ({zone})")
"""A time column's header names the tenant's zone: XLSX cells cannot carry it."""

OBLIGATION_COLUMNS = (
    Column(N_("Obligation id")),
    Column(N_("Branch code")),
    Column(N_("Branch")),
    Column(N_("Title")),
    Column(N_("Category")),
    Column(N_("Severity")),
    Column(N_("Status")),
    Column(N_("Due date"), CellKind.date),
    Column(N_("Owner")),
    Column(N_("Completed at"), CellKind.moment),
    Column(N_("Completed by")),
    Column(N_("Waived at"), CellKind.moment),
    Column(N_("Waived by")),
    Column(N_("Waiver reason")),
)
DOMAIN_COLUMNS = (
    Column(N_("Host")),
    Column(N_("Port"), CellKind.number),
    Column(N_("Branch code")),
    Column(N_("Status")),
    Column(N_("Valid until"), CellKind.moment),
    Column(N_("Days left"), CellKind.number),
    Column(N_("Issuer")),
    Column(N_("Last error")),
    Column(N_("Last checked"), CellKind.moment),
    Column(N_("Paused since"), CellKind.moment),
    Column(N_("Added"), CellKind.moment),
)
AUDIT_COLUMNS = (
    Column(N_("Entry"), CellKind.number),
    Column(N_("Time"), CellKind.moment),
    Column(N_("Who")),
    Column(N_("Action")),
    Column(N_("Entity")),
    Column(N_("Entity id")),
    Column(N_("Before")),
    Column(N_("After")),
)
DELIVERY_COLUMNS = (
    Column(N_("Time"), CellKind.moment),
    Column(N_("Alert id")),
    Column(N_("Alert type")),
    Column(N_("Severity")),
    Column(N_("Branch code")),
    Column(N_("Connector")),
    Column(N_("Channel")),
    Column(N_("Recipient")),
    Column(N_("Attempt"), CellKind.number),
    Column(N_("Status")),
    Column(N_("Sent at"), CellKind.moment),
    Column(N_("Provider status")),
    Column(N_("Error")),
)
COLUMNS = {
    ExportKind.obligations: OBLIGATION_COLUMNS,
    ExportKind.domains: DOMAIN_COLUMNS,
    ExportKind.audit: AUDIT_COLUMNS,
    ExportKind.deliveries: DELIVERY_COLUMNS,
}

DELIVERY_WORDS: dict[enum.Enum, str] = {
    NotificationStatus.queued: N_("queued"),
    NotificationStatus.processing: N_("sending"),
    NotificationStatus.sent: N_("sent"),
    NotificationStatus.failed: N_("failed, will retry"),
    NotificationStatus.cancelled: N_("cancelled"),
    NotificationStatus.acked: N_("acknowledged"),
    NotificationStatus.dead_letter: N_("dead letter"),
    ConnectorType.email_smtp: N_("email"),
    ConnectorType.webhook: N_("webhook"),
}
"""Delivery statuses and channels in words (the other schema values are `labels.LABELS`)."""
CHANNEL_NAMES: dict[enum.Enum, str] = {
    ConnectorType.telegram_bot: "Telegram",
    ConnectorType.whatsapp_business: "WhatsApp",
}
"""Names of products, the same in every language."""


def _words(texts: Texts, kind: type[enum.Enum]) -> dict[str, str]:
    """Each stored value of `kind` (as the driver returns an enum: its label) in words."""
    words = {}
    for member in kind:
        if member in CHANNEL_NAMES:
            words[member.value] = CHANNEL_NAMES[member]
        elif member in DELIVERY_WORDS:
            words[member.value] = texts.gettext(DELIVERY_WORDS[member])
        else:
            words[member.value] = label(texts, member)
    return words


def _headers(texts: Texts, columns: Sequence[Column], timezone: str) -> list[str]:
    headers = []
    for column in columns:
        header = texts.gettext(column.header)
        if column.kind is CellKind.moment:
            header = texts.gettext(MOMENT_HEADER).format(column=header, zone=timezone)
        headers.append(header)
    return headers


def export_filename(
    kind: ExportKind, today: date, format_: ExportFormat, branch: str | None
) -> str:
    """`obligations-2026-12-02.xlsx`, or `obligations-DHK-01-2026-12-02.xlsx` for one branch."""
    middle = f"-{branch}" if branch else ""
    return f"{kind.value}{middle}-{today.isoformat()}.{format_.value}"


# The statements, built once per shape (scoped or not, rendered or not) so the driver
# compiles each once. Every value is the cell as it will read: words and people's names
# are decided in Python (the catalogue, `person_name`) and handed to PostgreSQL as arrays,
# which it looks up per row; for CSV it renders dates and times too.

BRANCH_IDS = bindparam("branch_ids", type_=ARRAY(UUID(as_uuid=True)))
MOMENT_TEXT = 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'
"""`to_char` of a timestamp in the session's zone, as Python's `isoformat(timespec="seconds")`
writes it: `2026-12-02T14:30:00+06:00`."""
DATE_TEXT = "YYYY-MM-DD"
RENDER_IN_ZONE = select(func.set_config("TimeZone", bindparam("zone", type_=String), True))
"""The tenant's zone for this transaction only, for `to_char` to render times in."""
PEOPLE_IDS = bindparam("people_ids", type_=ARRAY(Integer))
PEOPLE_NAMES = bindparam("people_names", type_=ARRAY(String))
NOBODY = bindparam("nobody", type_=String)


def _as(column: Any, kind: CellKind, rendered: bool) -> Any:
    """`column` as the statement returns it: as stored, or (`rendered`, for CSV) dates and
    moments already as ISO 8601 text, which PostgreSQL writes far faster than Python."""
    if not rendered or kind not in (CellKind.date, CellKind.moment):
        return column
    return func.to_char(column, DATE_TEXT if kind is CellKind.date else MOMENT_TEXT)


def _word_key(kind: type[enum.Enum]) -> str:
    return kind.__name__.lower()


def _in_words(column: Any, kind: type[enum.Enum]) -> Any:
    """`column`, a value of `kind`, as its word: the value's place among `kind`'s values
    picks it from the words (both arrays bound by `_word_values`)."""
    key = _word_key(kind)
    values = bindparam(f"{key}_values", type_=ARRAY(String))
    words = bindparam(f"{key}_words", type_=ARRAY(String))
    return Grouping(words)[func.array_position(values, cast(column, String))]


def _word_values(texts: Texts, *kinds: type[enum.Enum]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for kind in kinds:
        words = _words(texts, kind)
        values[f"{_word_key(kind)}_values"] = list(words)
        values[f"{_word_key(kind)}_words"] = list(words.values())
    return values


def _person(name: str) -> Any:
    """The tenant's people as a table (`id`, `name`) from the bound arrays, to join as `name`."""
    return func.unnest(PEOPLE_IDS, PEOPLE_NAMES).table_valued("id", "name").render_derived(name)


@functools.cache
def obligations_statement(scoped: bool, rendered: bool) -> Any:
    """Every obligation instance with its branch, status as of the tenant's today (an open
    item past its date is overdue before the clock has run), by branch code and due date."""
    instance = ObligationInstance
    today = bindparam("today", type_=Date)
    status_now = case(
        (
            instance.status.in_(OPEN_OBLIGATION),
            case(
                (instance.due_at < today, ObligationStatus.overdue.value),
                (instance.due_at == today, ObligationStatus.due_today.value),
                else_=ObligationStatus.upcoming.value,
            ),
        ),
        else_=cast(instance.status, String),
    )
    owner, completer, waiver = _person("owner"), _person("completer"), _person("waiver")
    statement = (
        select(
            cast(instance.id, String),
            Branch.code,
            Branch.name,
            instance.title,
            _in_words(instance.category, ObligationCategory),
            _in_words(instance.severity, Severity),
            _in_words(status_now, ObligationStatus),
            _as(instance.due_at, CellKind.date, rendered),
            owner.c.name,
            _as(instance.completed_at, CellKind.moment, rendered),
            completer.c.name,
            _as(instance.waived_at, CellKind.moment, rendered),
            waiver.c.name,
            instance.waive_reason,
        )
        .join(Branch, Branch.id == instance.branch_id)
        .outerjoin(owner, owner.c.id == instance.owner_user_id)
        .outerjoin(completer, completer.c.id == instance.completed_by_user_id)
        .outerjoin(waiver, waiver.c.id == instance.waived_by_user_id)
        .where(instance.tenant_id == bindparam("tenant_id"))
        .order_by(Branch.code, instance.due_at, instance.id)
    )
    if scoped:
        statement = statement.where(instance.branch_id == any_(BRANCH_IDS))
    return statement


@functools.cache
def domains_statement(scoped: bool, rendered: bool) -> Any:
    """Every domain with its branch and its latest check (one index probe each)."""
    latest = (
        select(
            SslCheckResult.valid_to,
            SslCheckResult.days_remaining,
            SslCheckResult.issuer_cn,
            SslCheckResult.error_detail,
        )
        .where(SslCheckResult.domain_id == Domain.id)
        .order_by(SslCheckResult.checked_at.desc())
        .limit(1)
        .lateral("latest")
    )
    statement = (
        select(
            Domain.hostname,
            Domain.port,
            Branch.code,
            _in_words(Domain.status, SslCheckStatus),
            _as(latest.c.valid_to, CellKind.moment, rendered),
            latest.c.days_remaining,
            latest.c.issuer_cn,
            latest.c.error_detail,
            _as(Domain.last_checked_at, CellKind.moment, rendered),
            _as(Domain.paused_at, CellKind.moment, rendered),
            _as(Domain.created_at, CellKind.moment, rendered),
        )
        .outerjoin(Branch, Branch.id == Domain.branch_id)
        .outerjoin(latest, true())
        .where(Domain.tenant_id == bindparam("tenant_id"))
        .order_by(Domain.hostname, Domain.port)
    )
    if scoped:
        statement = statement.where(Domain.branch_id == any_(BRANCH_IDS))
    return statement


@functools.cache
def audit_statement(one_branch: bool, rendered: bool) -> Any:
    """The audit trail, oldest first. One branch: the entries about the branch itself and
    about any row that belonged to it before or after the change (its snapshots name it)."""
    who = _person("who")
    statement = (
        select(
            ActivityLog.id,
            _as(ActivityLog.timestamp, CellKind.moment, rendered),
            case((ActivityLog.user_id.is_(None), NOBODY), else_=who.c.name),
            ActivityLog.action,
            ActivityLog.entity_type,
            ActivityLog.entity_id,
            cast(ActivityLog.before_json, Text),
            cast(ActivityLog.after_json, Text),
        )
        .outerjoin(who, who.c.id == ActivityLog.user_id)
        .where(ActivityLog.tenant_id == bindparam("tenant_id"))
        .order_by(ActivityLog.timestamp, ActivityLog.id)
    )
    if one_branch:
        branch = bindparam("branch", type_=String)
        statement = statement.where(
            or_(
                and_(ActivityLog.entity_type == "branch", ActivityLog.entity_id == branch),
                ActivityLog.before_json["branch_id"].astext == branch,
                ActivityLog.after_json["branch_id"].astext == branch,
            )
        )
    return statement


@functools.cache
def deliveries_statement(scoped: bool, rendered: bool) -> Any:
    """Every delivery attempt with its alert, connector and branch, oldest first."""
    statement = (
        select(
            _as(NotificationDelivery.created_at, CellKind.moment, rendered),
            cast(NotificationEvent.id, String),
            _in_words(NotificationEvent.event_type, NotificationEventType),
            _in_words(NotificationEvent.severity, Severity),
            Branch.code,
            Connector.name,
            _in_words(Connector.type, ConnectorType),
            NotificationDelivery.recipient_ref,
            NotificationDelivery.attempt_no,
            _in_words(NotificationDelivery.delivery_status, NotificationStatus),
            _as(NotificationDelivery.sent_at, CellKind.moment, rendered),
            NotificationDelivery.provider_status,
            NotificationDelivery.error,
        )
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.notification_event_id)
        .join(Connector, Connector.id == NotificationDelivery.connector_id)
        .outerjoin(Branch, Branch.id == NotificationEvent.branch_id)
        .where(NotificationDelivery.tenant_id == bindparam("tenant_id"))
        .order_by(NotificationDelivery.created_at, NotificationDelivery.id)
    )
    if scoped:
        statement = statement.where(NotificationEvent.branch_id == any_(BRANCH_IDS))
    return statement


PEOPLE = select(User.id, User.full_name, User.telegram_name, User.telegram_username, User.email)


async def people_values(session: AsyncSession) -> dict[str, list[Any]]:
    """How every person of the tenant is named (`names.person_name`), as the two arrays the
    statements join (`people_ids`, `people_names`): bounded by the people, not the rows."""
    rows = await rows_of(session, PEOPLE, {})
    return {
        "people_ids": [row["id"] for row in rows],
        "people_names": [
            person_name(
                row["full_name"],
                row["telegram_name"],
                row["telegram_username"],
                row["email"],
                row["id"],
            )
            for row in rows
        ],
    }


async def cursor_batches(
    session: AsyncSession, statement: Any, values: dict[str, Any], batch_rows: int = BATCH_ROWS
) -> AsyncGenerator[Sequence[Record], None]:
    """`statement`'s rows a batch at a time from a server-side cursor on the driver
    connection of `session`'s unit of work (its transaction, its tenant).

    The next batch is asked for before this one is handed on, so PostgreSQL produces and
    sends it while the caller writes this one (two processors, not one after the other);
    at most two batches are in memory. A connection that died is invalidated, never
    returned to the pool.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    sql, arguments = expanded(statement, values)
    next_batch: asyncio.Future[Sequence[Record]] | None = None
    try:
        cursor = await driver.cursor(sql, *arguments)  # type: ignore[union-attr]
        next_batch = asyncio.ensure_future(cursor.fetch(batch_rows))
        while batch := await next_batch:
            next_batch = asyncio.ensure_future(cursor.fetch(batch_rows))
            await asyncio.sleep(0)  # let the fetch send its request before the batch is written
            yield batch
    except DISCONNECTED:
        await connection.invalidate()
        raise
    finally:
        if next_batch is not None and not next_batch.done():
            next_batch.cancel()
            with contextlib.suppress(asyncio.CancelledError, *DISCONNECTED):
                await next_batch


class _CycleCollection:
    """Python's cyclic garbage collector, paused while rows stream (and resumed by the last
    of overlapping streams). A million rows are a million short-lived records and lists:
    freed by reference counting the moment a batch is written, yet each batch lives long
    enough to be promoted to the older generations, so the collector keeps traversing
    them, which cost four tenths of the export's time. Rows make no reference cycles; the
    little cyclic garbage the driver makes meanwhile waits for the resumed collector."""

    def __init__(self) -> None:
        self.streams = 0
        self.was_enabled = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        if self.streams == 0:
            self.was_enabled = gc.isenabled()
            gc.disable()
        self.streams += 1
        try:
            yield
        finally:
            self.streams -= 1
            if self.streams == 0 and self.was_enabled:
                gc.enable()


CYCLE_COLLECTION = _CycleCollection()


async def copy_out(
    session: AsyncSession, statement: Any, values: dict[str, Any], sink: CsvCopy
) -> int:
    """`COPY (statement) TO STDOUT CSV` on the driver connection of `session`'s unit of
    work (its transaction, its tenant, its time zone), each chunk handed to `sink` before
    the next is read; the number of rows. A connection that died is invalidated."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    sql, arguments = expanded(statement, values)
    try:
        status = await driver.copy_from_query(  # type: ignore[union-attr]
            sql, *arguments, output=sink, format="csv"
        )
    except DISCONNECTED:
        await connection.invalidate()
        raise
    return int(str(status).rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class PreparedExport:
    """An export checked and ready: its file name, its sheet, and the statement to stream.

    `write` must run inside the unit of work it was prepared in.
    """

    request: ExportRequest
    filename: str
    sheet: Sheet
    session: AsyncSession
    statement: Any
    values: dict[str, Any]
    batch_rows: int = BATCH_ROWS

    def batches(self) -> AsyncGenerator[Sequence[Record], None]:
        """The rows from the cursor, a batch at a time (as XLSX takes them)."""
        return cursor_batches(self.session, self.statement, self.values, self.batch_rows)

    async def write(self, target: IO[bytes]) -> int:
        """The file into `target` (binary, left open); the number of rows written. CSV is
        PostgreSQL's COPY made safe (`CsvCopy`), XLSX the cursor's rows (`write_xlsx`)."""
        with CYCLE_COLLECTION.paused():
            if self.request.format is ExportFormat.csv:
                return await copy_out(
                    self.session, self.statement, self.values, CsvCopy(target, self.sheet)
                )
            return await write_xlsx(target, self.sheet, self.batches())


@dataclass(frozen=True)
class ExportScope:
    branch_ids: list[uuid.UUID] | None
    """The branches the export covers; None: the whole tenant (head office)."""
    branch_code: str | None
    """The one branch asked for, by its code."""


async def check_export(session: AsyncSession, actor: Actor, request: ExportRequest) -> ExportScope:
    """Whether `actor` may have this export now, and what it covers; reads no rows.

    A branch code outside a manager's branches is refused as not in scope, whether or not
    the branch exists; head office is told when there is no such branch.
    """
    if not can_export(actor, request.kind):
        refusal = (
            ErrorCode.head_office_only
            if request.kind is ExportKind.audit
            else ErrorCode.managers_only
        )
        raise PermissionDeniedError(refusal)
    if request.branch_code is None:
        scope = sorted(actor.branch_ids) if actor.branch_ids is not None else None
        return ExportScope(scope, None)
    code = normalise_branch_code(request.branch_code)
    found = await session.scalar(select(Branch.id).where(Branch.code == code))
    if found is None or not actor.covers(found):
        if actor.branch_ids is None:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
        raise NotFoundError(ErrorCode.branch_not_in_scope)
    return ExportScope([found], code)


NO_PERSON = N_("the command line or Intrex itself")
"""Who made an audit entry that names no user (as `/audit` says it)."""


def _sheet_kind(kind: CellKind, rendered: bool) -> CellKind:
    """What the sheet receives: dates and moments the database rendered arrive as text."""
    return CellKind.text if rendered and kind in (CellKind.date, CellKind.moment) else kind


async def prepare_export(
    session: AsyncSession, actor: Actor, request: ExportRequest, *, batch_rows: int = BATCH_ROWS
) -> PreparedExport:
    """Check that `actor` may have this export now and set it up; nothing is read yet.

    Every refusal comes from here (`check_export`), before a byte is written: an actor the
    policy does not allow, a branch that does not exist or is not theirs.
    """
    kind = request.kind
    checked = await check_export(session, actor, request)
    scope = checked.branch_ids
    texts = texts_for(request.language)
    values: dict[str, Any] = {"tenant_id": actor.tenant_id}
    rendered = request.format is ExportFormat.csv
    if rendered:
        await rows_of(session, RENDER_IN_ZONE, {"zone": actor.timezone})
    scoped = scope is not None
    if kind is ExportKind.obligations:
        statement = obligations_statement(scoped, rendered)
        values["today"] = actor.today
        values |= await people_values(session)
        values |= _word_values(texts, ObligationCategory, Severity, ObligationStatus)
    elif kind is ExportKind.domains:
        statement = domains_statement(scoped, rendered)
        values |= _word_values(texts, SslCheckStatus)
    elif kind is ExportKind.audit:
        statement = audit_statement(scoped, rendered)
        values |= await people_values(session)
        values["nobody"] = texts.gettext(NO_PERSON)
    else:
        statement = deliveries_statement(scoped, rendered)
        values |= _word_values(
            texts, NotificationEventType, Severity, ConnectorType, NotificationStatus
        )
    if scope is not None:
        if kind is ExportKind.audit:
            values["branch"] = str(scope[0])
        else:
            values["branch_ids"] = scope
    sheet = Sheet(
        title=texts.gettext(TITLES[kind]),
        headers=_headers(texts, COLUMNS[kind], actor.timezone),
        kinds=[_sheet_kind(column.kind, rendered) for column in COLUMNS[kind]],
        timezone=actor.timezone,
    )
    return PreparedExport(
        request=request,
        filename=export_filename(kind, actor.today, request.format, checked.branch_code),
        sheet=sheet,
        session=session,
        statement=statement,
        values=values,
        batch_rows=batch_rows,
    )


# `intrex obligations list --json`, streamed.

Owner = aliased(User, name="owner")


@functools.cache
def listing_statement(by_branch: bool, by_status: bool, by_owner: bool) -> Any:
    """The CLI's listing (`queries.list_obligations_for_admin`'s rows and order: open
    first, then by due date) with each owner's naming columns, at most `limit` rows."""
    conditions: list[Any] = [ObligationInstance.tenant_id == bindparam("tenant_id")]
    if by_branch:
        conditions.append(ObligationInstance.branch_id == bindparam("branch_id"))
    if by_status:
        conditions.append(ObligationInstance.status == bindparam("status"))
    if by_owner:
        conditions.append(ObligationInstance.owner_user_id == bindparam("owner_user_id"))
    open_first = ObligationInstance.status.in_(OPEN_OBLIGATION).desc()
    rows = (
        view_select()
        .add_columns(
            Owner.full_name.label("owner_full_name"),
            Owner.telegram_name.label("owner_telegram_name"),
            Owner.telegram_username.label("owner_telegram_username"),
            Owner.email.label("owner_email"),
        )
        .outerjoin(Owner, Owner.id == ObligationInstance.owner_user_id)
        .where(*conditions)
        .order_by(open_first, ObligationInstance.due_at, ObligationInstance.id)
        .limit(bindparam("limit", type_=Integer))
    )
    count = select(func.count()).select_from(ObligationInstance).where(*conditions)
    return rows, count


@dataclass(frozen=True)
class ObligationListing:
    total: int
    """How many obligations match, whatever the limit."""
    batches: AsyncIterator[list[tuple[ObligationView, str | None]]]
    """The listed obligations with their owners' names, a batch at a time (read them inside
    the unit of work, under `CYCLE_COLLECTION.paused()`)."""


async def stream_obligation_listing(
    session: AsyncSession,
    actor: Actor,
    *,
    branch_code: str | None = None,
    status: ObligationStatus | None = None,
    owner: str | None = None,
    limit: int = 100,
    batch_rows: int = BATCH_ROWS,
) -> ObligationListing:
    """The command line's listing of one tenant, any status, for a head office `actor`.

    Refusals (a limit under 1, an unknown branch or person) come before any row.
    """
    if limit < 1:
        raise ValidationError(ErrorCode.limit_too_small)
    if not actor.role.head_office:
        raise PermissionDeniedError(ErrorCode.head_office_only)
    values: dict[str, Any] = {"tenant_id": actor.tenant_id, "limit": limit}
    if branch_code is not None:
        code = normalise_branch_code(branch_code)
        branch_id = await session.scalar(select(Branch.id).where(Branch.code == code))
        if branch_id is None:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
        values["branch_id"] = branch_id
    if status is not None:
        values["status"] = status
    if owner is not None:
        values["owner_user_id"] = await find_person(session, owner)
    rows, count = listing_statement(branch_code is not None, status is not None, owner is not None)
    total = (await rows_of(session, count, values))[0][0]
    today = actor.today

    async def batches() -> AsyncIterator[list[tuple[ObligationView, str | None]]]:
        async for records in cursor_batches(session, rows, values, batch_rows):
            yield [
                (
                    to_view(record, today),
                    person_name(
                        record["owner_full_name"],
                        record["owner_telegram_name"],
                        record["owner_telegram_username"],
                        record["owner_email"],
                        record["owner_user_id"],
                    )
                    if record["owner_user_id"] is not None
                    else None,
                )
                for record in records
            ]

    return ObligationListing(total=int(total), batches=batches())
