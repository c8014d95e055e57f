"""Every model in one import, so Alembic and the RLS tests see the whole schema."""

from core.audit.models import ActivityLog
from core.chat.models import ChatState, LinkAttempt
from core.db.base import Base
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
    PendingUpload,
)
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch, InviteCode, Tenant, User, UserBranch

GLOBAL_TABLES = frozenset({"jurisdictions"})
"""Reference tables shared by all tenants: read by request paths, written only by the system."""

SYSTEM_TABLES = frozenset({"chat_states", "link_attempts"})
"""Tables of no tenant that only the system path touches (request paths have no privilege)."""

UNSCOPED_TABLES = GLOBAL_TABLES | SYSTEM_TABLES

__all__ = [
    "Acknowledgement",
    "ActivityLog",
    "Base",
    "Branch",
    "ChatState",
    "Connector",
    "Domain",
    "InviteCode",
    "Jurisdiction",
    "LinkAttempt",
    "NotificationDelivery",
    "NotificationEvent",
    "NotificationRoute",
    "NotificationStep",
    "ObligationDocument",
    "ObligationInstance",
    "ObligationTemplate",
    "PendingUpload",
    "SslCheckResult",
    "Tenant",
    "User",
    "UserBranch",
]
