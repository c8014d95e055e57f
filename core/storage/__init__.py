"""Where proof documents' bytes live, behind an interface an object store could also implement.

Objects are content-addressed: the key is derived from the SHA-256 of the bytes, never from
anything a user typed, so no filename can ever become a path and the same bytes are stored
once. A `put` of bytes already stored is a harmless no-op, which is what lets the database
row that references a key be written after the bytes, with no cleanup needed on rollback.
"""

from __future__ import annotations

from core.storage.base import DocumentStorage, StoredObject, content_key
from core.storage.local import LocalStorage, local_storage

__all__ = ["DocumentStorage", "LocalStorage", "StoredObject", "content_key", "local_storage"]
