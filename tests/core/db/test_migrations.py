"""Zero → head → zero on an empty database, no drift, and the seed's types and indexes."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from core.db.enums import ALL_ENUM_TYPES
from core.db.migrate import alembic_config, downgrade, head_revision, migrate
from core.db.models import UNSCOPED_TABLES, Base
from core.db.roles import OWNER_ROLE
from core.db.target import DatabaseTarget
from tests.conftest import ScratchDatabases

SEED_ENUMS = {
    "app_role": ["head_office_admin", "branch_manager", "operator"],
    "obligation_category": [
        "trade_license",
        "fire_safety",
        "tax_vat",
        "environmental_permit",
        "inspection_renewal",
    ],
    "obligation_status": ["upcoming", "due_today", "overdue", "completed", "waived"],
    "severity": ["low", "medium", "high", "critical"],
    "connector_type": ["email_smtp", "telegram_bot", "whatsapp_business", "webhook"],
    "connector_status": ["active", "disabled", "error", "pending_verification"],
    "ssl_check_status": [
        "ok",
        "warning",
        "expired",
        "handshake_failed",
        "dns_failed",
        "timeout",
        "hostname_mismatch",
    ],
    "notification_event_type": [
        "obligation_due",
        "obligation_overdue",
        "ssl_expiry",
        "ssl_failure",
        "digest",
    ],
    "notification_status": [
        "queued",
        "processing",
        "sent",
        "failed",
        "cancelled",
        "acked",
        "dead_letter",
    ],
}

SEED_TABLES = {
    "tenants",
    "users",
    "branches",
    "jurisdictions",
    "obligation_templates",
    "obligation_instances",
    "obligation_documents",
    "domains",
    "ssl_check_results",
    "connectors",
    "notification_routes",
    "notification_events",
    "notification_deliveries",
    "acknowledgements",
    "activity_logs",
}

SEED_INDEXES = {
    "ix_obligation_instances_tenant_status_due": (
        "obligation_instances",
        "tenant_id, status, due_at",
    ),
    "ix_notification_events_fingerprint": ("notification_events", "fingerprint"),
    "ix_ssl_check_results_domain_checked": ("ssl_check_results", "domain_id, checked_at"),
    "ix_activity_logs_tenant_timestamp": ("activity_logs", 'tenant_id, "timestamp"'),
}


async def _tables(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    return {row.tablename for row in rows} - {"alembic_version"}


async def _enums(conn: AsyncConnection) -> dict[str, list[str]]:
    rows = await conn.execute(
        text(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels "
            "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname"
        )
    )
    return {row.typname: list(row.labels) for row in rows}


def _check(sync_conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    command.check(config)


async def test_upgrade_check_downgrade_upgrade(scratch: ScratchDatabases) -> None:
    target: DatabaseTarget = await scratch.new_target()
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            assert await _tables(conn) == set()

        report = await migrate(target)
        assert report.missing == []
        assert (report.from_revision, report.to_revision) == (None, head_revision())

        async with engine.connect() as conn:
            tables = await _tables(conn)
            assert tables >= SEED_TABLES
            assert tables == set(Base.metadata.tables)
            assert await _enums(conn) == SEED_ENUMS
            await conn.run_sync(_check)
            owners = await conn.execute(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            )
            assert {row.tableowner for row in owners} == {OWNER_ROLE}

        await downgrade(target, "base")
        async with engine.connect() as conn:
            assert await _tables(conn) == set()
            assert await _enums(conn) == {}
            policies = await conn.scalar(text("SELECT count(*) FROM pg_policies"))
            assert policies == 0

        again = await migrate(target)
        assert again.to_revision == head_revision()
        async with engine.connect() as conn:
            assert await _tables(conn) == set(Base.metadata.tables)
    finally:
        await engine.dispose()


async def test_migrate_twice_is_a_no_op(target: DatabaseTarget) -> None:
    report = await migrate(target)
    assert report.missing == []
    assert report.from_revision == report.to_revision == head_revision()


async def test_seed_indexes_exist_with_their_columns(target: DatabaseTarget) -> None:
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT indexname, tablename, indexdef FROM pg_indexes "
                    "WHERE schemaname = 'public'"
                )
            )
            found = {row.indexname: (row.tablename, row.indexdef) for row in rows}
    finally:
        await engine.dispose()
    for name, (table, columns) in SEED_INDEXES.items():
        assert name in found, name
        assert found[name][0] == table
        assert found[name][1].endswith(f"({columns})"), found[name][1]


def test_models_declare_exactly_the_seed_enum_types() -> None:
    assert {enum_type.name for enum_type in ALL_ENUM_TYPES} == set(SEED_ENUMS)
    for enum_type in ALL_ENUM_TYPES:
        assert list(enum_type.enums) == SEED_ENUMS[str(enum_type.name)]


def test_every_table_is_tenant_scoped_or_declared_global() -> None:
    for name, table in Base.metadata.tables.items():
        assert "tenant_id" in table.c or name in UNSCOPED_TABLES or name == "tenants", name
