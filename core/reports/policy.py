"""Who may see the report: pure functions of the actor (SPEC §5, §7).

The report ranks branches against each other, so it is for the people who answer for
branches: head office for the whole company, a branch manager for their own branches. An
operator does the work of a branch and sees it in /obligations; the ranking is not theirs.
"""

from __future__ import annotations

from core.tenancy.scope import Actor


def can_view_report(actor: Actor) -> bool:
    return actor.role.manages
