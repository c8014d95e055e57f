"""Who may do what with an obligation: pure functions of the actor and the row as it is now.

Core's actions enforce these inside their transaction (on the locked row); the bot, the
CLI and the web only ask them, to show a button exactly when pressing it would be allowed.
A row outside the actor's tenant or branches is not theirs to see at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Protocol

from core.db.enums import AppRole, ObligationStatus
from core.tenancy.scope import Actor, scope_for


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


def can_manage_branch(actor: Actor, tenant_id: uuid.UUID, branch_id: uuid.UUID) -> bool:
    """Add a one-off obligation to a branch, change or delete its open ones: head office
    everywhere, branch managers for their own branches, operators never (they complete
    what they are given; moving a deadline or dropping one is a manager's decision)."""
    return actor.manages and actor.owns_tenant_row(tenant_id, branch_id)


def can_change(actor: Actor, obligation: ObligationFacts) -> bool:
    """Change the due date, owner or severity: open instances only (closed ones are history)."""
    return obligation.status.is_open and can_manage_branch(
        actor, obligation.tenant_id, obligation.branch_id
    )


def can_delete(actor: Actor, obligation: ObligationFacts) -> bool:
    """Delete: as changing (one with proof files is refused by the service, not here)."""
    return can_change(actor, obligation)


def may_own(
    owner_role: AppRole, owner_branch_ids: Collection[uuid.UUID], branch_id: uuid.UUID
) -> bool:
    """Whether a person of `owner_role` linked to `owner_branch_ids` may own an obligation
    of `branch_id`: head office admins every branch, the others their own branches (the
    rule generation applies in SQL, `generation.OWNER_IN_SCOPE`)."""
    scope = scope_for(owner_role, owner_branch_ids)
    return scope is None or branch_id in scope


def can_manage_templates(actor: Actor) -> bool:
    """Templates and the catalogue are head office's: they decide every branch's work."""
    return actor.role.head_office
