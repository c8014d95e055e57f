"""Small input checks shared by every part that takes them from a person."""

from __future__ import annotations

import re

EMAIL_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
"""An address as people type it: one @, a dot in the domain, no spaces or angle brackets."""


def is_email_address(text: str) -> bool:
    return len(text) <= 320 and EMAIL_ADDRESS.fullmatch(text) is not None
