"""Connector configuration stored encrypted; rotation re-encrypts every row under the first key."""

from __future__ import annotations

from sqlalchemy import select

from core.crypto import SecretBox
from core.db.session import Database
from core.notify.models import Connector


async def rotate_connector_secrets(db: Database, box: SecretBox) -> int:
    """Re-encrypt every tenant's connector configs in one transaction; returns the row count.

    All or nothing: if one row cannot be decrypted with any key, nothing is rewritten.
    """
    async with db.system_uow() as session:
        connectors = await session.scalars(select(Connector).with_for_update())
        count = 0
        for connector in connectors:
            connector.config_encrypted_json = box.rotate(connector.config_encrypted_json)
            count += 1
    return count
