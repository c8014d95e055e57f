"""Encryption of connector configuration at rest, with key rotation.

Fernet (AES-128-CBC + HMAC-SHA256) under MultiFernet: the first key of SECRET_KEYS
encrypts, every key decrypts, so a new key can be put in front and the rows re-encrypted
(`intrex keys rotate`) before the old key is retired.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import Settings
from core.errors import ConfigurationError, ErrorCode

KEY_FILE_NAME = "secret_keys"


def new_token() -> str:
    """A URL-safe secret of 192 random bits: login links, sessions, calendar feeds, invites."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """What is stored of a random token: with 144 or more random bits behind it, a plain
    SHA-256 makes the stored value useless to whoever reads the database."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts JSON documents under the first key; decrypts under any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigurationError(ErrorCode.encryption_keys_empty)
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode("ascii")))
            except (ValueError, UnicodeEncodeError) as exc:
                raise ConfigurationError(
                    ErrorCode.encryption_key_invalid, position=position
                ) from exc
        self._fernet = MultiFernet(fernets)
        self._first_key = keys[0].strip().encode("ascii")

    def derive_key(self, purpose: str) -> bytes:
        """A key for one purpose (`web-session`), derived from the first key by HMAC-SHA256:
        signatures made with it are never valid for another purpose, and rotating the keys
        (a new first key) invalidates them."""
        return hmac.new(self._first_key, purpose.encode("utf-8"), hashlib.sha256).digest()

    def encrypt_json(self, document: Mapping[str, Any]) -> str:
        payload = json.dumps(dict(document), separators=(",", ":"), sort_keys=True)
        return self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken as exc:
            raise ConfigurationError(ErrorCode.encrypted_config_unreadable) from exc
        document: dict[str, Any] = json.loads(plain)
        return document

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key (raises if no key can decrypt it)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise ConfigurationError(ErrorCode.encrypted_config_unreadable) from exc


def _split_keys(raw: str) -> list[str]:
    return [key.strip() for key in raw.split(",") if key.strip()]


def load_secret_box(settings: Settings, *, embedded: bool) -> SecretBox:
    """Keys from SECRET_KEYS; with the embedded database, from (or generated into) DATA_DIR."""
    if settings.secret_keys is not None:
        return SecretBox(_split_keys(settings.secret_keys.get_secret_value()))
    if not embedded:
        raise ConfigurationError(ErrorCode.encryption_keys_missing)
    return SecretBox(_split_keys(_embedded_key_file(settings.data_dir).read_text()))


def _embedded_key_file(data_dir: Path) -> Path:
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(generate_key() + "\n")
    return path
