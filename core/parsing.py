"""One parser for every fixed set of values a person types (roles, statuses, severities …),
and one for row ids.

Case and surrounding spaces do not matter, and dashes or spaces stand for underscores
(`Branch-Manager` is `branch_manager`); anything else is refused with the choices.
"""

from __future__ import annotations

import enum
import uuid
from typing import TypeVar

from core.errors import ErrorCode, NotFoundError, ValidationError

Choice = TypeVar("Choice", bound=enum.StrEnum)


def parse_enum(kind: type[Choice], value: str | None, what: str) -> Choice:
    """The member of `kind` that `value` names; `what` names the set in the refusal."""
    cleaned = "_".join((value or "").strip().lower().replace("-", " ").split())
    try:
        return kind(cleaned)
    except ValueError:
        raise ValidationError(
            ErrorCode.value_unknown,
            what=what,
            value=(value or "").strip(),
            choices=", ".join(member.value for member in kind),
        ) from None


def parse_id(value: uuid.UUID | str, not_found: ErrorCode) -> uuid.UUID:
    """A row id from untrusted input (callback data); a malformed one is simply not found."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        raise NotFoundError(not_found) from None
