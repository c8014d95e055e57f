"""Queueing many webhook alerts quickly, for the crash test and the benchmark.

The events and their steps are inserted set-based (what `emit_event` would write, one
route to one webhook), because the point there is dispatching, not emitting.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.crypto import SecretBox
from core.db.enums import ConnectorType
from core.db.session import Database
from core.notify.connectors import ConnectorSpec, add_connector
from core.tenancy.models import Tenant
from tests.companies import new_tenant

QUEUE_SQL = text(
    """
    WITH events AS (
        INSERT INTO notification_events
            (tenant_id, event_type, severity, fingerprint, payload_json, scheduled_for, status)
        SELECT :tenant, 'ssl_failure', 'high', 'load:' || :batch || ':' || n,
               jsonb_build_object('host', 'host' || n || '.example.com', 'status', 'timeout'),
               now(), 'queued'
        FROM generate_series(1, :count) AS n
        RETURNING id
    )
    INSERT INTO notification_steps
        (tenant_id, notification_event_id, connector_id, recipient_ref, level, next_attempt_at)
    SELECT :tenant, id, :connector, '-', 1, now() FROM events
    """
)


async def webhook_tenant(db: Database, box: SecretBox, url: str) -> tuple[Tenant, uuid.UUID]:
    tenant = await new_tenant(db, "UTC", name=f"load-{uuid.uuid4().hex[:8]}")
    spec = ConnectorSpec(
        type=ConnectorType.webhook, name="load", url=url, secret="load-test-secret-0123456789"
    )
    view = await add_connector(db, box, tenant, spec, allow_private=True)
    return tenant, view.connector.id


async def queue_alerts(db: Database, tenant: Tenant, connector_id: uuid.UUID, count: int) -> None:
    async with db.tenant_uow(tenant.id) as session:
        await session.execute(
            QUEUE_SQL,
            {
                "tenant": tenant.id,
                "connector": connector_id,
                "count": count,
                "batch": uuid.uuid4().hex[:8],
            },
        )
