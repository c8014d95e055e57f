"""How well each connector of a tenant delivers: the last 7 days' attempts and failures,
its success rate, its last success and its last error.

Read from `notification_deliveries` (one row per attempt), so a retried send that got
through on its second try counts one failure and one success: the rate says how often a
send through the connector works, which is what head office asks of it. The last success
and the last error are the latest ever, not only the window's: a connector silent for a
fortnight still shows when it last worked. One set-based statement for every connector of
the tenant, in the caller's tenant transaction (row-level security scopes it); each
connector's rows are read through its own index range, never the tenant's history.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import ConnectorStatus, ConnectorType
from core.notify.redaction import redact_optional

HEALTH_WINDOW = timedelta(days=7)


class HealthStatus(enum.StrEnum):
    """A connector's health in one word, from its status and its recent deliveries."""

    healthy = "healthy"
    """Deliveries in the window, none failed."""
    degraded = "degraded"
    """Some attempts in the window failed, and it has delivered since the last failure."""
    failing = "failing"
    """Its latest attempt failed (or the dispatcher marked it `error`)."""
    idle = "idle"
    """Nothing sent through it in the window."""
    disabled = "disabled"
    """Switched off: nothing is sent through it."""


@dataclass(frozen=True)
class ConnectorHealth:
    connector_id: uuid.UUID
    name: str
    type: ConnectorType
    connector_status: ConnectorStatus
    deliveries: int
    """Delivery attempts in the window."""
    failures: int
    """Of those, the ones that did not get through (retried or given up)."""
    last_success_at: datetime | None
    """When the latest attempt that got through was recorded (as `last_error_at`, so the two
    compare on one clock: the database's)."""
    last_error: str | None
    """The latest failed attempt's error, redacted again on the way out."""
    last_error_at: datetime | None
    window: timedelta = HEALTH_WINDOW

    @property
    def success_rate(self) -> float | None:
        """Share of the window's attempts that got through; None without any attempt."""
        if not self.deliveries:
            return None
        return (self.deliveries - self.failures) / self.deliveries

    @property
    def status(self) -> HealthStatus:
        if self.connector_status is ConnectorStatus.disabled:
            return HealthStatus.disabled
        failed_last = self.last_error_at is not None and (
            self.last_success_at is None or self.last_error_at > self.last_success_at
        )
        if self.connector_status is ConnectorStatus.error or (self.failures and failed_last):
            return HealthStatus.failing
        if not self.deliveries:
            return HealthStatus.idle
        return HealthStatus.degraded if self.failures else HealthStatus.healthy

    def as_json(self) -> dict[str, Any]:
        """The figures as `--json` documents carry them (times in UTC, ISO 8601)."""
        rate = self.success_rate
        return {
            "status": self.status.value,
            "window_days": self.window.days,
            "deliveries": self.deliveries,
            "failures": self.failures,
            "success_rate": None if rate is None else round(rate, 4),
            "last_success_at": _iso(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


HEALTH_SQL = text(
    """
    SELECT c.id, c.name, c.type, c.status, w.deliveries, w.failures,
           (SELECT s.created_at FROM notification_deliveries AS s
             WHERE s.connector_id = c.id AND s.delivery_status = 'sent'
             ORDER BY s.created_at DESC LIMIT 1) AS last_success_at,
           e.error AS last_error, e.created_at AS last_error_at
    FROM connectors AS c
    CROSS JOIN LATERAL (
        SELECT count(*) AS deliveries,
               count(*) FILTER (WHERE d.delivery_status <> 'sent') AS failures
        FROM notification_deliveries AS d
        WHERE d.connector_id = c.id AND d.created_at >= :since
    ) AS w
    LEFT JOIN LATERAL (
        SELECT f.error, f.created_at FROM notification_deliveries AS f
        WHERE f.connector_id = c.id AND f.delivery_status <> 'sent'
        ORDER BY f.created_at DESC LIMIT 1
    ) AS e ON true
    ORDER BY c.name
    """
)
"""Per connector, the window's counts and the latest success from an index-only range of
`ix_notification_deliveries_connector_created` (it carries the status and the tenant that
row-level security filters on), the latest failure from the small partial index of
failures (`ix_notification_deliveries_connector_failures`): the cost follows the window's
deliveries, never the history's."""


async def connector_health(
    session: AsyncSession, *, now: datetime | None = None
) -> list[ConnectorHealth]:
    """Every connector of the session's tenant, by name, with its delivery health."""
    moment = utc_now(now)
    rows = await session.execute(HEALTH_SQL, {"since": moment - HEALTH_WINDOW})
    return [
        ConnectorHealth(
            connector_id=row.id,
            name=row.name,
            type=ConnectorType(row.type),
            connector_status=ConnectorStatus(row.status),
            deliveries=row.deliveries,
            failures=row.failures,
            last_success_at=row.last_success_at,
            last_error=redact_optional(row.last_error),
            last_error_at=row.last_error_at,
        )
        for row in rows
    ]
