"""The local filesystem backend: objects under `DATA_DIR/documents`, written atomically."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from core.config import Settings
from core.storage.base import KEY_PATTERN, StoredObject, content_key, digest


class LocalStorage:
    """Content-addressed files under one root directory.

    A write goes to a temporary file in the target directory, is fsynced, then renamed
    over the final name with `os.replace`, so a reader sees either no object or the whole
    object, never a partial one, even if the process dies mid-write.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise KeyError(f"not a storage key: {key!r}")
        return self.root.joinpath(*key.split("/"))

    def _write(self, data: bytes) -> StoredObject:
        sha = digest(data)
        key = content_key(sha)
        path = self._path(key)
        if path.is_file() and path.stat().st_size == len(data):
            return StoredObject(key=key, sha256=sha, size_bytes=len(data), created=False)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return StoredObject(key=key, sha256=sha, size_bytes=len(data), created=True)

    async def put(self, data: bytes) -> StoredObject:
        return await asyncio.to_thread(self._write, data)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


def local_storage(settings: Settings) -> LocalStorage:
    """The deployment's document store: `DATA_DIR/documents`."""
    return LocalStorage(settings.data_dir / "documents")
