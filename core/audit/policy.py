"""Who may read the audit trail: a pure function of the actor.

The trail spans every branch and every person of the tenant (who disabled whom, which
waiver was granted), so it is head office's alone, like the people it names (SPEC §5, §7).
"""

from __future__ import annotations

from core.tenancy.scope import Actor


def can_read_audit(actor: Actor) -> bool:
    return actor.role.head_office
