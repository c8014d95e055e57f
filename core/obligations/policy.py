"""Who may do what with an obligation: pure functions of the actor and the row as it is now.

Core's actions enforce these inside their transaction (on the locked row); the bot, the
CLI and the web only ask them, to show a button exactly when pressing it would be allowed.
A row outside the actor's tenant or branches is not theirs to see at all.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from core.db.enums import ObligationStatus
from core.tenancy.scope import Actor


class ObligationFacts(Protocol):
    """What the policy looks at: an `ObligationInstance` or an `ObligationView` both fit."""

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def branch_id(self) -> uuid.UUID: ...

    @property
    def status(self) -> ObligationStatus: ...


def can_view(actor: Actor, obligation: ObligationFacts) -> bool:
    return actor.owns_tenant_row(obligation.tenant_id, obligation.branch_id)


def can_complete(actor: Actor, obligation: ObligationFacts) -> bool:
    """Anyone in scope, while it is open (required proof is asked for, not a refusal)."""
    return can_view(actor, obligation) and obligation.status.is_open


def can_upload_proof(actor: Actor, obligation: ObligationFacts) -> bool:
    return can_view(actor, obligation) and obligation.status.is_open


def can_waive(actor: Actor, obligation: ObligationFacts) -> bool:
    return can_view(actor, obligation) and obligation.status.is_open and actor.manages


def can_reopen(actor: Actor, obligation: ObligationFacts) -> bool:
    return can_view(actor, obligation) and not obligation.status.is_open and actor.manages
