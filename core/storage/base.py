"""The storage interface and the content key every backend uses."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

KEY_PATTERN = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredObject:
    """What a backend reports after storing bytes."""

    key: str
    sha256: str
    size_bytes: int
    created: bool
    """False when the same bytes were already stored under that key."""


def content_key(sha256_hex: str) -> str:
    """The storage key for content with this SHA-256 (fanned out by its first byte)."""
    key = f"sha256/{sha256_hex[:2]}/{sha256_hex}"
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError("not a SHA-256 hex digest")
    return key


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DocumentStorage(Protocol):
    """A content-addressed blob store (local disk today; an S3 backend fits the same shape)."""

    async def put(self, data: bytes) -> StoredObject:
        """Store `data` durably under its content key; idempotent for equal bytes."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes stored under `key` (KeyError if there are none)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
        ...
