"""Who may manage the tenant's people: pure functions of the actor."""

from __future__ import annotations

from core.tenancy.scope import Actor


def can_invite(actor: Actor) -> bool:
    return actor.role.head_office
