"""Who may see and manage the tenant's people and branches: pure functions of the actor.

SPEC §5: head office manages everyone; a branch manager sees the staff of their branches,
read-only; an operator sees nobody but themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from core.tenancy.scope import Actor


def can_invite(actor: Actor) -> bool:
    return actor.role.head_office


def can_view_people(actor: Actor) -> bool:
    return actor.role.manages


def can_see_person(actor: Actor, person_id: int, branch_ids: Collection[uuid.UUID]) -> bool:
    """Head office sees everyone; a manager the people of their branches (and themselves)."""
    if actor.role.head_office or person_id == actor.user_id:
        return True
    return actor.role.manages and any(actor.covers(branch_id) for branch_id in branch_ids)


def can_manage_people(actor: Actor) -> bool:
    """Disable, enable, change role, branches, email, name; list and revoke invites."""
    return actor.role.head_office


def can_manage_branches(actor: Actor) -> bool:
    return actor.role.head_office
