"""Every model in one import, so Alembic and the RLS tests see the whole schema."""

from core.audit.models import ActivityLog
from core.chat.models import ChatState, LinkAttempt
from core.dashboard.models import CalendarFeed, WebLoginToken, WebSession
from core.db.base import Base
from core.db.job_runs import JobRun
from core.notify.models import (
    Acknowledgement,
    Connector,
    NotificationDelivery,
    NotificationEvent,
    NotificationRoute,
    NotificationStep,
    RateBucket,
)
from core.obligations.models import (
    Jurisdiction,
    ObligationDocument,
    ObligationInstance,
    ObligationSkip,
    ObligationTemplate,
    PendingUpload,
)
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch, InviteCode, Tenant, User, UserBranch

GLOBAL_TABLES = frozenset({"jurisdictions"})
"""Reference tables shared by all tenants: read by request paths, written only by the system."""

SYSTEM_TABLES = frozenset({"chat_states", "job_runs", "link_attempts", "rate_buckets"})
"""Tables of no tenant that only the system path touches (request paths have no privilege)."""

UNSCOPED_TABLES = GLOBAL_TABLES | SYSTEM_TABLES

__all__ = [
    "Acknowledgement",
    "ActivityLog",
    "Base",
    "Branch",
    "CalendarFeed",
    "ChatState",
    "Connector",
    "Domain",
    "InviteCode",
    "JobRun",
    "Jurisdiction",
    "LinkAttempt",
    "NotificationDelivery",
    "NotificationEvent",
    "NotificationRoute",
    "NotificationStep",
    "ObligationDocument",
    "ObligationInstance",
    "ObligationSkip",
    "ObligationTemplate",
    "PendingUpload",
    "RateBucket",
    "SslCheckResult",
    "Tenant",
    "User",
    "UserBranch",
    "WebLoginToken",
    "WebSession",
]
