"""The audit trail read back: filtered, latest first, in keyset pages, under row-level security.

Entries are read in the tenant's unit of work, so a filter can never reach another tenant's
trail. Pages are cut by position (timestamp, id), not by offset: a page deep in a long trail
costs what the first one does, and entries written meanwhile do not shift the pages already
shown. A position travels as a short token (`AuditCursor.token`) through a CLI flag or a
button, and is only ever a request: a forged one is just another position.

What changed is data here (`FieldChange`: field, before, after); `core.audit.wording` puts
it in the reader's words.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import policy
from core.audit.models import ActivityLog
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError, ValidationError
from core.i18n import N_
from core.tenancy.models import Branch, User
from core.tenancy.names import names_of, person_name
from core.tenancy.people import find_person
from core.tenancy.scope import Actor

MAX_PAGE_SIZE = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_PATTERN = re.compile(r"^([0-9a-f]{1,14})\.([0-9a-f]{1,16})$")

ENTITY_TYPES = frozenset(
    {
        "branch",
        "branch_group",
        "connector",
        "domain",
        "invite_code",
        "notification_event",
        "notification_route",
        "obligation_document",
        "obligation_instance",
        "obligation_template",
        "tenant",
        "user",
    }
)
"""What the audit records changes of (`entity_type`), as `grep -rn 'entity_type=' core` finds."""

HIDDEN_FIELDS = frozenset(
    {
        "id",
        "tenant_id",
        "created_at",
        "storage_key",
        "claimed_until",
        "claim_token",
        "config_encrypted_json",
        "password_hash",
        "code_hash",
        "last_seen_at",
    }
)
"""Bookkeeping that says nothing to a reader (the entry names its row and time already, and
when a person was last seen is no change of theirs) or that is internal (a storage key, a
claim lease, an encrypted secret)."""

SUBJECT_FIELDS = ("title", "hostname", "code", "name", "full_name", "email", "filename")
"""Where an entry's row says what it is, in this order of preference."""


@dataclass(frozen=True)
class AuditCursor:
    """A position in the trail: entries are ordered by (timestamp, id)."""

    timestamp: datetime
    id: int

    @property
    def token(self) -> str:
        """`<microseconds since 1970, hex>.<id, hex>`: short enough for a button's data."""
        micros = (self.timestamp - EPOCH) // timedelta(microseconds=1)
        return f"{micros:x}.{self.id:x}"


def parse_cursor(token: str) -> AuditCursor:
    """A position from a token a page gave (a CLI flag, a button); anything else is refused."""
    cleaned = token.strip().lower()
    found = CURSOR_PATTERN.fullmatch(cleaned)
    if found is None:
        raise ValidationError(ErrorCode.audit_cursor_invalid, value=token.strip()[:40])
    micros, entry_id = int(found[1], 16), int(found[2], 16)
    try:
        moment = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ValidationError(ErrorCode.audit_cursor_invalid, value=cleaned) from None
    return AuditCursor(moment, entry_id)


@dataclass(frozen=True)
class AuditFilter:
    """Which entries; every field left None matches everything."""

    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    """One action (`obligation.complete`), or a family of them (`obligation.*`)."""
    user_id: int | None = None
    since: date | None = None
    """From the start of this day, in the tenant's zone."""
    until: date | None = None
    """Through the end of this day, in the tenant's zone."""


def parse_entity(value: str) -> tuple[str, str | None]:
    """`TYPE` or `TYPE:ID` (`obligation_instance:1a2b…`); an id that is a UUID is written as
    the audit stores it (with dashes)."""
    kind, _, identity = value.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in ENTITY_TYPES:
        raise ValidationError(
            ErrorCode.value_unknown,
            what=N_("entity type"),
            value=kind,
            choices=", ".join(sorted(ENTITY_TYPES)),
        )
    identity = identity.strip()
    with contextlib.suppress(ValueError):
        identity = str(uuid.UUID(identity))
    return kind, identity or None


@dataclass(frozen=True)
class FieldChange:
    """One field of the row: its value before the change and after it (None: absent)."""

    field: str
    before: Any
    after: Any


def changed_fields(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[FieldChange]:
    """What an entry changed, field by field.

    A change (both sides): the fields whose values differ, and what only `after` adds (a
    reason, the alerts resolved). A creation: every field it set. A deletion with nothing
    after: every field the row had. A field `after` leaves out is not shown as cleared when
    `after` is a note about the change (`obligation.delete` records the reason only).
    """
    old, new = before or {}, after or {}
    names = [*new, *(name for name in old if name not in new)]
    changes = []
    for name in names:
        if name in HIDDEN_FIELDS:
            continue
        was, now = old.get(name), new.get(name)
        if after is not None and name not in new:
            continue
        if was == now or (before is None and now is None) or (after is None and was is None):
            continue
        changes.append(FieldChange(name, was, now))
    return changes


@dataclass(frozen=True)
class AuditEntry:
    """One entry: who (`user_id`, None for the command line and Intrex's own jobs), what,
    on which row, when, and the row before and after."""

    id: int
    timestamp: datetime
    user_id: int | None
    user_name: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def cursor(self) -> AuditCursor:
        return AuditCursor(self.timestamp, self.id)

    @property
    def changes(self) -> list[FieldChange]:
        return changed_fields(self.before, self.after)

    @property
    def subject(self) -> str | None:
        """What the row is called (a title, a host, a code, a name), as it was last seen."""
        for row in (self.after, self.before):
            for name in SUBJECT_FIELDS:
                value = (row or {}).get(name)
                if isinstance(value, str) and value:
                    return value
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat(),
            "user_id": self.user_id,
            "user_name": self.user_name,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "subject": self.subject,
            "changes": [
                {"field": change.field, "before": change.before, "after": change.after}
                for change in self.changes
            ],
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class AuditPage:
    """Entries latest first, and where the pages beside this one start."""

    entries: list[AuditEntry]
    newer: AuditCursor | None
    """Read `after=` this for the newer page; None when this page is the latest."""
    older: AuditCursor | None
    """Read `before=` this for the older page; None when nothing older matches."""
    user_names: dict[int, str] = field(default_factory=dict)
    """How each person an entry's fields name (`*_user_id`) is called."""
    branch_codes: dict[str, str] = field(default_factory=dict)
    """The code of each branch an entry's fields name (`branch_id`), by id."""


def _conditions(actor: Actor, filters: AuditFilter) -> list[Any]:
    conditions: list[Any] = [ActivityLog.tenant_id == actor.tenant_id]
    if filters.entity_type is not None:
        conditions.append(ActivityLog.entity_type == filters.entity_type)
    if filters.entity_id is not None:
        conditions.append(ActivityLog.entity_id == filters.entity_id)
    if filters.action is not None:
        action = filters.action.strip().lower()
        if action.endswith(".*"):
            family = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(ActivityLog.action.like(family + "%", escape="\\"))
        else:
            conditions.append(ActivityLog.action == action)
    if filters.user_id is not None:
        conditions.append(ActivityLog.user_id == filters.user_id)
    zone = ZoneInfo(actor.timezone)
    if filters.since is not None:
        conditions.append(ActivityLog.timestamp >= datetime.combine(filters.since, time(), zone))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), zone)
        conditions.append(ActivityLog.timestamp < end)
    return conditions


def _beyond(cursor: AuditCursor, *, older: bool) -> Any:
    """Entries past `cursor`, written so that the (tenant, timestamp) index bounds the scan."""
    stamp, entry_id = ActivityLog.timestamp, ActivityLog.id
    if older:
        return and_(
            stamp <= cursor.timestamp,
            or_(stamp < cursor.timestamp, entry_id < cursor.id),
        )
    return and_(
        stamp >= cursor.timestamp,
        or_(stamp > cursor.timestamp, entry_id > cursor.id),
    )


ENTRY_COLUMNS = (
    ActivityLog.id,
    ActivityLog.timestamp,
    ActivityLog.user_id,
    ActivityLog.action,
    ActivityLog.entity_type,
    ActivityLog.entity_id,
    ActivityLog.before_json,
    ActivityLog.after_json,
    User.full_name,
    User.telegram_name,
    User.telegram_username,
    User.email,
)


async def list_audit(
    session: AsyncSession,
    actor: Actor,
    filters: AuditFilter | None = None,
    *,
    limit: int = 20,
    before: AuditCursor | None = None,
    after: AuditCursor | None = None,
) -> AuditPage:
    """A page of the tenant's trail, latest first: the newest `limit` entries that match,
    or those just older than `before`, or just newer than `after`."""
    if not policy.can_read_audit(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(ErrorCode.page_size_out_of_range, limit=MAX_PAGE_SIZE)
    conditions = _conditions(actor, filters or AuditFilter())
    newest_first = after is None
    if after is not None:
        conditions.append(_beyond(after, older=False))
    elif before is not None:
        conditions.append(_beyond(before, older=True))
    order = (
        (ActivityLog.timestamp.desc(), ActivityLog.id.desc())
        if newest_first
        else (ActivityLog.timestamp, ActivityLog.id)
    )
    rows = (
        await session.execute(
            select(*ENTRY_COLUMNS)
            .outerjoin(User, User.id == ActivityLog.user_id)
            .where(*conditions)
            .order_by(*order)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    entries = [_entry(row) for row in rows[:limit]]
    if not newest_first:
        entries.reverse()
    if newest_first:
        newer = entries[0].cursor if before is not None and entries else None
        older = entries[-1].cursor if more else None
    else:
        newer = entries[0].cursor if more else None
        older = entries[-1].cursor if entries else None
    return AuditPage(
        entries=entries,
        newer=newer,
        older=older,
        user_names=await names_of(session, _named(entries, is_user_field, int)),
        branch_codes=await _branch_codes(session, _named(entries, _is_branch_field, str)),
    )


def _entry(row: Any) -> AuditEntry:
    named = row.user_id is not None
    return AuditEntry(
        id=row.id,
        timestamp=row.timestamp,
        user_id=row.user_id,
        user_name=person_name(
            row.full_name, row.telegram_name, row.telegram_username, row.email, row.user_id
        )
        if named
        else None,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        before=row.before_json,
        after=row.after_json,
    )


def is_user_field(name: str) -> bool:
    """Whether the field names one of the tenant's people by id (`owner_user_id`); a
    Telegram account's id (`telegram_user_id`) is not one."""
    return name == "user_id" or (name.endswith("_user_id") and name != "telegram_user_id")


def _is_branch_field(name: str) -> bool:
    return name == "branch_id"


def _named(entries: Iterable[AuditEntry], wanted: Any, kind: type) -> set[Any]:
    """The values of the fields `wanted` picks, across the page's changes, of type `kind`."""
    found: set[Any] = set()
    for entry in entries:
        for change in entry.changes:
            if wanted(change.field):
                found.update(v for v in (change.before, change.after) if isinstance(v, kind))
    return found


async def _branch_codes(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(value))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = await session.execute(select(Branch.id, Branch.code).where(Branch.id.in_(wanted)))
    return {str(row.id): row.code for row in rows}


async def find_audit_user(session: AsyncSession, reference: str) -> int:
    """The person `--user` names: an id, an email or a @username (`find_person`), else the
    one person with that name (as head office gave it, or as Telegram shows it)."""
    try:
        return await find_person(session, reference)
    except NotFoundError:
        wanted = reference.strip().lower()
        found = list(
            await session.scalars(
                select(User.id)
                .where(
                    or_(
                        func.lower(User.full_name) == wanted,
                        func.lower(User.telegram_name) == wanted,
                    )
                )
                .limit(2)
            )
        )
        if len(found) == 1:
            return found[0]
        raise
