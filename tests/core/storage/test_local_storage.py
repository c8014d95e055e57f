"""The local backend: content keys, atomic idempotent writes, no path from outside."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.storage import LocalStorage, content_key


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    data = b"%PDF-1.4 proof"
    first = await storage.put(data)
    sha = hashlib.sha256(data).hexdigest()
    assert first.key == content_key(sha) == f"sha256/{sha[:2]}/{sha}"
    assert first.created
    assert first.size_bytes == len(data)
    assert first.sha256 == sha
    again = await storage.put(data)
    assert again.key == first.key
    assert not again.created
    assert await storage.get(first.key) == data
    assert await storage.exists(first.key)
    assert files_under(tmp_path) == [tmp_path / "sha256" / sha[:2] / sha]  # no temporary left


async def test_a_torn_file_is_rewritten_whole(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    data = b"complete content"
    stored = await storage.put(data)
    path = tmp_path.joinpath(*stored.key.split("/"))
    path.write_bytes(data[:5])
    assert (await storage.put(data)).created
    assert path.read_bytes() == data


async def test_keys_that_are_not_content_keys_are_refused(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    for key in ("../secret.txt", "sha256/../../secret.txt", "/etc/passwd", "sha256/ab/cd"):
        with pytest.raises(KeyError):
            await storage.get(key)
        with pytest.raises(KeyError):
            await storage.delete(key)
    assert secret.exists()


async def test_delete_and_missing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stored = await storage.put(b"x" * 10)
    await storage.delete(stored.key)
    await storage.delete(stored.key)
    assert not await storage.exists(stored.key)
    with pytest.raises(KeyError):
        await storage.get(stored.key)


async def test_files_are_private_to_the_service(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stored = await storage.put(b"private")
    path = tmp_path.joinpath(*stored.key.split("/"))
    assert os.stat(path).st_mode & 0o077 == 0
