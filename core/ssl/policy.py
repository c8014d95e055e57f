"""Who may see, add, remove and check which certificate: pure functions of actor and row.

A domain of a branch belongs to that branch; a domain of no branch belongs to head office
(SPEC §5). Checking a host that is not registered records nothing, but it is still a
request Intrex makes on someone's behalf, so only head office may check arbitrary hosts.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from core.tenancy.scope import Actor


class DomainFacts(Protocol):
    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def branch_id(self) -> uuid.UUID | None: ...


def can_view_domain(actor: Actor, domain: DomainFacts) -> bool:
    return actor.owns_tenant_row(domain.tenant_id, domain.branch_id)


def can_add_domain(actor: Actor) -> bool:
    return actor.role.head_office


def can_remove_domain(actor: Actor, domain: DomainFacts) -> bool:
    return actor.role.head_office and can_view_domain(actor, domain)


def can_pause_domain(actor: Actor, domain: DomainFacts) -> bool:
    """Pausing and resuming monitoring, like removing it, is head office's call."""
    return actor.role.head_office and can_view_domain(actor, domain)


def can_check(actor: Actor, domain: DomainFacts | None) -> bool:
    """`domain` None: a host Intrex does not monitor (head office only)."""
    if domain is None:
        return actor.role.head_office
    return actor.manages and can_view_domain(actor, domain)
