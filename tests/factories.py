"""One row in every table for a tenant, written on the system path: the isolation suite's world."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import ActivityLog
from core.db.enums import (
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    Severity,
    SslCheckStatus,
)
from core.notify.models import (
    Acknowledgement,
    Connector,
    NotificationDelivery,
    NotificationEvent,
    NotificationRoute,
    NotificationStep,
)
from core.obligations.models import (
    Jurisdiction,
    ObligationDocument,
    ObligationInstance,
    ObligationTemplate,
)
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch, InviteCode, Tenant, User, UserBranch


async def populate_tenant(session: AsyncSession, name: str) -> Tenant:
    """A tenant with one row in every tenant-scoped table (flushes; the caller commits)."""
    tenant = Tenant(name=name, timezone="Asia/Dhaka")
    session.add(tenant)
    await session.flush()
    tid = tenant.id
    user = User(tenant_id=tid, email=f"{uuid.uuid4().hex[:8]}@example.com", role=AppRole.operator)
    branch = Branch(tenant_id=tid, code="DHK-01", name="Dhaka", district="Dhaka")
    jurisdiction = Jurisdiction(country_code="BD", district="Dhaka", label="Dhaka district")
    session.add_all([user, branch, jurisdiction])
    await session.flush()
    template = ObligationTemplate(
        tenant_id=tid,
        jurisdiction_id=jurisdiction.id,
        category=ObligationCategory.trade_license,
        title="Trade licence renewal",
        recurrence_type="annual",
        severity=Severity.high,
    )
    domain = Domain(tenant_id=tid, branch_id=branch.id, hostname="example.com", port=443)
    connector = Connector(
        tenant_id=tid, type=ConnectorType.webhook, name="hook", config_encrypted_json="x"
    )
    event = NotificationEvent(
        tenant_id=tid,
        branch_id=branch.id,
        event_type=NotificationEventType.ssl_failure,
        severity=Severity.high,
        fingerprint=f"ssl_failure:{uuid.uuid4()}",
        payload_json={"host": "example.com"},
        scheduled_for=datetime.now(UTC),
    )
    session.add_all([template, domain, connector, event])
    await session.flush()
    instance = ObligationInstance(
        tenant_id=tid,
        branch_id=branch.id,
        template_id=template.id,
        category=template.category,
        due_at=date.today() + timedelta(days=30),
    )
    session.add_all(
        [
            instance,
            UserBranch(tenant_id=tid, user_id=user.id, branch_id=branch.id),
            InviteCode(
                tenant_id=tid,
                code_hash=uuid.uuid4().hex * 2,
                role=AppRole.operator,
                branch_id=branch.id,
                expires_at=datetime.now(UTC) + timedelta(days=1),
            ),
            SslCheckResult(tenant_id=tid, domain_id=domain.id, check_status=SslCheckStatus.ok),
            NotificationRoute(
                tenant_id=tid,
                branch_id=branch.id,
                connector_id=connector.id,
                severity_min=Severity.low,
                recipient_ref="-",
            ),
            NotificationStep(
                tenant_id=tid,
                notification_event_id=event.id,
                connector_id=connector.id,
                recipient_ref="-",
                next_attempt_at=datetime.now(UTC),
            ),
            NotificationDelivery(
                tenant_id=tid,
                notification_event_id=event.id,
                connector_id=connector.id,
                attempt_no=1,
                delivery_status=NotificationStatus.sent,
            ),
            Acknowledgement(tenant_id=tid, notification_event_id=event.id, ack_by_user_id=user.id),
            ActivityLog(tenant_id=tid, user_id=user.id, action="test", entity_type="tenant"),
        ]
    )
    await session.flush()
    session.add(
        ObligationDocument(
            tenant_id=tid,
            obligation_instance_id=instance.id,
            storage_key="ab/cdef",
            filename="licence.pdf",
            mime_type="application/pdf",
            size_bytes=10,
            sha256="0" * 64,
            uploaded_by_user_id=user.id,
        )
    )
    await session.flush()
    return tenant
