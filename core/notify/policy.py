"""Who may acknowledge which alert: a pure function of the actor, the event and its sends.

SPEC §5: head office acknowledges anything of its tenant; a manager or an operator the
alerts that concern their branches, or that were actually delivered to them (a step merely
planned for them at a later escalation level does not count: they have not been asked yet).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from core.db.enums import NotificationEventType, NotificationStatus
from core.tenancy.scope import Actor


class AlertFacts(Protocol):
    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def branch_id(self) -> uuid.UUID | None: ...

    @property
    def status(self) -> NotificationStatus: ...

    @property
    def event_type(self) -> NotificationEventType: ...


def can_see_alert(actor: Actor, event: AlertFacts, *, delivered_to_actor: bool) -> bool:
    if event.tenant_id != actor.tenant_id or event.event_type is NotificationEventType.digest:
        return False
    return delivered_to_actor or actor.covers(event.branch_id)


def can_acknowledge(actor: Actor, event: AlertFacts, *, delivered_to_actor: bool) -> bool:
    """Allowed while the alert is open; an acknowledged one answers "already" to whoever may
    see it, so acknowledging stays idempotent."""
    if event.status is NotificationStatus.cancelled:
        return False
    return can_see_alert(actor, event, delivered_to_actor=delivered_to_actor)
