"""Who may see and act on which obligation, re-checked inside every action's transaction.

Ids arrive from chat callback data, which a client can forge: every action therefore
reloads the acting user (a disabled or re-roled user loses power at once) and looks the
instance up within that user's branches, answering "not found" for anything outside them
so that nothing is revealed about other branches' rows.
"""

from __future__ import annotations

from core.errors import NotFoundError, PermissionDeniedError
from core.tenancy.scope import Actor


def require_manager(actor: Actor, action: str) -> None:
    if not actor.manages:
        raise PermissionDeniedError(
            f"Only a branch manager or a head-office admin may {action} an obligation."
        )


OBLIGATION_NOT_FOUND = "No such obligation in your branches."


def not_found() -> NotFoundError:
    return NotFoundError(OBLIGATION_NOT_FOUND)
