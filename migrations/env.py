"""Alembic environment: runs on a connection `intrex migrate` hands over, or opens its own."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from core.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from core.config import get_settings
    from core.db.target import resolve_target

    target = resolve_target(get_settings())
    engine = create_async_engine(target.admin_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()
        target.close()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run `intrex migrate`")

handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    _run(handed_over)
else:
    asyncio.run(_run_standalone())
