"""Connector secrets: round trip, rotation through the database, no plaintext at rest."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import select, text

from core.config import Settings
from core.crypto import SecretBox, generate_key, load_secret_box
from core.db.enums import ConnectorType
from core.db.session import Database
from core.errors import ConfigurationError
from core.notify.connectors import rotate_connector_secrets
from core.notify.models import Connector
from tests.companies import new_tenant

SECRET = {"url": "https://hooks.example.com/x", "secret": "s3cr3t-hmac-key-Zq9"}


def test_round_trip_and_no_plaintext() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt_json(SECRET)
    assert "s3cr3t" not in token
    assert "hooks.example.com" not in token
    assert box.decrypt_json(token) == SECRET


def test_old_keys_decrypt_new_key_encrypts() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt_json(SECRET)
    both = SecretBox([new, old])
    assert both.decrypt_json(token) == SECRET
    rotated = both.rotate(token)
    assert SecretBox([new]).decrypt_json(rotated) == SECRET
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        SecretBox([old]).decrypt_json(rotated)


@pytest.mark.parametrize("keys", [[], ["not-a-key"], [generate_key(), "short"]])
def test_bad_keys_are_refused_clearly(keys: list[str]) -> None:
    with pytest.raises(ConfigurationError, match=r"SECRET_KEYS|Fernet"):
        SecretBox(keys)


def test_embedded_key_file_is_generated_private_and_stable(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    settings = Settings(data_dir=tmp_path / "data", secret_keys=None, database_url=None)
    first = load_secret_box(settings, embedded=True)
    key_file = tmp_path / "data" / "secret_keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.encrypt_json(SECRET)
    assert load_secret_box(settings, embedded=True).decrypt_json(token) == SECRET


def test_keys_are_required_with_a_database_url() -> None:
    settings = Settings(secret_keys=None, database_url="postgresql://intrex_app@127.0.0.1/x")
    with pytest.raises(ConfigurationError, match="SECRET_KEYS is not set"):
        load_secret_box(settings, embedded=False)


async def test_rotation_rewrites_every_row_under_the_first_key(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC", name="rotation")
    old, new = generate_key(), generate_key()
    async with db.tenant_uow(tenant.id) as session:
        for index in range(3):
            session.add(
                Connector(
                    tenant_id=tenant.id,
                    type=ConnectorType.webhook,
                    name=f"hook-{index}",
                    config_encrypted_json=SecretBox([old]).encrypt_json(SECRET),
                )
            )
    assert await rotate_connector_secrets(db, SecretBox([new, old])) == 3
    async with db.tenant_uow(tenant.id) as session:
        stored = list(await session.scalars(select(Connector.config_encrypted_json)))
        dump = await session.scalar(text("SELECT string_agg(c::text, '') FROM connectors c"))
    assert len(stored) == 3
    assert all(SecretBox([new]).decrypt_json(token) == SECRET for token in stored)
    assert dump is not None
    assert SECRET["secret"] not in dump
    assert "hooks.example.com" not in dump


async def test_rotation_is_all_or_nothing(private_db: Database) -> None:
    db = private_db
    tenant = await new_tenant(db, "UTC", name="rotation")
    known, unknown, new = generate_key(), generate_key(), generate_key()
    async with db.tenant_uow(tenant.id) as session:
        session.add_all(
            [
                Connector(
                    tenant_id=tenant.id,
                    type=ConnectorType.webhook,
                    name="readable",
                    config_encrypted_json=SecretBox([known]).encrypt_json(SECRET),
                ),
                Connector(
                    tenant_id=tenant.id,
                    type=ConnectorType.webhook,
                    name="orphaned",
                    config_encrypted_json=SecretBox([unknown]).encrypt_json(SECRET),
                ),
            ]
        )
    async with db.tenant_uow(tenant.id) as session:
        before = sorted(await session.scalars(select(Connector.config_encrypted_json)))
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        await rotate_connector_secrets(db, SecretBox([new, known]))
    async with db.tenant_uow(tenant.id) as session:
        after = sorted(await session.scalars(select(Connector.config_encrypted_json)))
    assert after == before
