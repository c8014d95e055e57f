"""Obligation ids, filters and statuses from untrusted input (chat, callback data, CLI)."""

from __future__ import annotations

import uuid

from core.db.enums import ObligationStatus
from core.errors import ErrorCode, ValidationError
from core.i18n import N_
from core.obligations.views import Window
from core.parsing import parse_enum, parse_id


def parse_instance_id(value: uuid.UUID | str) -> uuid.UUID:
    """An instance id; anything malformed is simply not found (nothing is revealed)."""
    return parse_id(value, ErrorCode.obligation_not_found)


def parse_window(value: str | None) -> Window:
    cleaned = (value or Window.all.value).strip().lower()
    try:
        return Window(cleaned)
    except ValueError:
        raise ValidationError(ErrorCode.unknown_window, value=value or "") from None


def parse_status(value: str) -> ObligationStatus:
    return parse_enum(ObligationStatus, value, N_("status"))
