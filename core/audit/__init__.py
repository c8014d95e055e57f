"""The audit trail: every change writes `activity_logs` inside the caller's transaction.

Writing through the caller's session means the log entry commits or rolls back with the
change it describes; there is never a change without its record, nor a record of a change
that did not happen.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import ActivityLog
from core.db.base import Base


def _json_safe(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def snapshot(row: Base, *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """A row's column values as JSON, leaving out `exclude` (secrets, hashes)."""
    mapper = inspect(row).mapper
    return {
        column.key: _json_safe(getattr(row, column.key))
        for column in mapper.column_attrs
        if column.key not in exclude
    }


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    action: str,
    entity_type: str,
    entity_id: object | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> ActivityLog:
    """Add one audit entry to the caller's unit of work (flushed with it, committed with it)."""
    entry = ActivityLog(
        tenant_id=tenant_id,
        user_id=user_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before_json=before,
        after_json=after,
    )
    session.add(entry)
    await session.flush()
    return entry


async def add_recorded(
    session: AsyncSession,
    row: Base,
    *,
    tenant_id: uuid.UUID,
    action: str,
    entity_type: str,
    user_id: int | None = None,
    exclude: Collection[str] = (),
) -> None:
    """Insert `row` and record its creation, the stored row (less `exclude`) as `after`."""
    session.add(row)
    await session.flush()
    await session.refresh(row)
    identity = inspect(row).identity
    await record(
        session,
        tenant_id=tenant_id,
        action=action,
        entity_type=entity_type,
        entity_id=identity[0] if identity else None,
        after=snapshot(row, exclude=exclude),
        user_id=user_id,
    )


async def record_update(
    session: AsyncSession,
    row: Base,
    before: dict[str, Any],
    *,
    tenant_id: uuid.UUID,
    action: str,
    entity_type: str,
    user_id: int | None = None,
    exclude: Collection[str] = (),
) -> None:
    """Flush a changed row and record it: `before` (a `snapshot` taken first) and the row now."""
    await session.flush()
    identity = inspect(row).identity
    await record(
        session,
        tenant_id=tenant_id,
        action=action,
        entity_type=entity_type,
        entity_id=identity[0] if identity else None,
        before=before,
        after=snapshot(row, exclude=exclude),
        user_id=user_id,
    )
