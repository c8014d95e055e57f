"""Row-level security over every table of the metadata, as the runtime role.

The tables are enumerated from `Base.metadata`, so a table added without a tenant column
and a policy fails here: it is neither isolated nor declared global.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from core.audit.models import ActivityLog
from core.crypto import hash_token, new_token
from core.dashboard.models import CalendarFeed, WebLoginToken, WebSession
from core.db.enums import (
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    ObligationCategory,
    Severity,
    SslCheckStatus,
)
from core.db.models import GLOBAL_TABLES, SYSTEM_TABLES, UNSCOPED_TABLES, Base
from core.db.roles import APPEND_ONLY_TABLES, SYSTEM_ROLE
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.models import (
    Acknowledgement,
    BranchGroup,
    Connector,
    NotificationDelivery,
    NotificationEvent,
    NotificationRoute,
    NotificationStep,
    TelegramEdit,
)
from core.obligations.models import (
    Jurisdiction,
    ObligationDocument,
    ObligationInstance,
    ObligationSkip,
    ObligationTemplate,
    PendingUpload,
)
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import InviteCode
from tests.companies import company, person

TABLES = sorted(Base.metadata.tables)
TENANT_TABLES = [name for name in TABLES if name not in UNSCOPED_TABLES]


def tenant_column(table: str) -> str:
    return "id" if table == "tenants" else "tenant_id"


@dataclass
class World:
    a: uuid.UUID
    b: uuid.UUID


async def populate_tenant(db: Database, name: str) -> uuid.UUID:
    """A company (`tests.companies`) and a user of it, then one row in every other
    tenant-scoped table, written on the system path."""
    made = await company(db, name)
    tid, branch = made.tenant.id, made.dhaka
    user_id = (await person(db, made.tenant, AppRole.operator, [branch])).user_id
    async with db.system_uow() as session:
        await _fill(session, tid, branch.id, user_id)
    return tid


async def _fill(session: AsyncSession, tid: uuid.UUID, branch_id: uuid.UUID, user_id: int) -> None:
    jurisdiction = Jurisdiction(country_code="BD", district="Dhaka", label="Dhaka district")
    session.add(jurisdiction)
    await session.flush()
    template = ObligationTemplate(
        tenant_id=tid,
        jurisdiction_id=jurisdiction.id,
        category=ObligationCategory.trade_license,
        title="Trade licence renewal",
        recurrence_type="annual",
        severity=Severity.high,
    )
    domain = Domain(tenant_id=tid, branch_id=branch_id, hostname="example.com", port=443)
    connector = Connector(
        tenant_id=tid, type=ConnectorType.webhook, name="hook", config_encrypted_json="x"
    )
    event = NotificationEvent(
        tenant_id=tid,
        branch_id=branch_id,
        event_type=NotificationEventType.ssl_failure,
        severity=Severity.high,
        fingerprint=f"ssl_failure:{uuid.uuid4()}",
        payload_json={"host": "example.com"},
        scheduled_for=datetime.now(UTC),
    )
    session.add_all([template, domain, connector, event])
    await session.flush()
    instance = ObligationInstance(
        tenant_id=tid,
        branch_id=branch_id,
        template_id=template.id,
        category=template.category,
        title=template.title,
        severity=template.severity,
        due_at=date.today() + timedelta(days=30),
        series_date=date.today() + timedelta(days=30),
    )
    session.add_all(
        [
            instance,
            InviteCode(
                tenant_id=tid,
                code_hash=uuid.uuid4().hex * 2,
                user_id=user_id,
                expires_at=datetime.now(UTC) + timedelta(days=1),
            ),
            SslCheckResult(tenant_id=tid, domain_id=domain.id, check_status=SslCheckStatus.ok),
            NotificationRoute(
                tenant_id=tid,
                branch_id=branch_id,
                connector_id=connector.id,
                severity_min=Severity.low,
                recipient_ref="-",
            ),
            NotificationStep(
                tenant_id=tid,
                notification_event_id=event.id,
                connector_id=connector.id,
                recipient_ref="-",
                next_attempt_at=datetime.now(UTC),
            ),
            delivery := NotificationDelivery(
                tenant_id=tid,
                notification_event_id=event.id,
                connector_id=connector.id,
                attempt_no=1,
                delivery_status=NotificationStatus.sent,
            ),
            BranchGroup(tenant_id=tid, branch_id=branch_id, chat_id=-(10**12) - user_id),
            ObligationSkip(
                tenant_id=tid,
                template_id=template.id,
                branch_id=branch_id,
                series_date=date.today() + timedelta(days=60),
            ),
            Acknowledgement(tenant_id=tid, notification_event_id=event.id, ack_by_user_id=user_id),
            ActivityLog(tenant_id=tid, user_id=user_id, action="test", entity_type="tenant"),
            WebLoginToken(
                tenant_id=tid,
                user_id=user_id,
                token_hash=hash_token(new_token()),
                expires_at=datetime.now(UTC) + timedelta(minutes=10),
            ),
            WebSession(
                tenant_id=tid,
                user_id=user_id,
                token_hash=hash_token(new_token()),
                csrf_token=new_token(),
                signed_in_with="link",
                expires_at=datetime.now(UTC) + timedelta(hours=8),
            ),
            CalendarFeed(tenant_id=tid, user_id=user_id, token_hash=hash_token(new_token())),
        ]
    )
    await session.flush()
    session.add(
        ObligationDocument(
            tenant_id=tid,
            obligation_instance_id=instance.id,
            storage_key="ab/cdef",
            filename="licence.pdf",
            mime_type="application/pdf",
            size_bytes=10,
            sha256="0" * 64,
            uploaded_by_user_id=user_id,
        )
    )
    session.add(
        TelegramEdit(
            tenant_id=tid,
            delivery_id=delivery.id,
            notification_event_id=event.id,
            chat_id=1,
            message_id=1,
            kind="acknowledged",
        )
    )
    session.add(
        PendingUpload(
            tenant_id=tid,
            user_id=user_id,
            obligation_instance_id=instance.id,
            chat_id=1,
            file_id="file",
            filename="licence.pdf",
        )
    )
    await session.flush()


@pytest.fixture(scope="module")
async def world(db: Database) -> World:
    a = await populate_tenant(db, f"iso-a-{uuid.uuid4().hex[:6]}")
    b = await populate_tenant(db, f"iso-b-{uuid.uuid4().hex[:6]}")
    return World(a=a, b=b)


@pytest.fixture
async def as_runtime(db: Database) -> AsyncIterator[AsyncConnection]:
    """A raw connection as intrex_app, inside a transaction that is always rolled back."""
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


async def _in_tenant(conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
    await conn.execute(
        text("SELECT set_config('app.current_tenant', :t, true)"), {"t": str(tenant_id)}
    )


def test_every_table_is_covered() -> None:
    for name, table in Base.metadata.tables.items():
        assert name in UNSCOPED_TABLES or tenant_column(name) in table.c, (
            f"{name} has no tenant column and is not declared global or system-only"
        )


async def test_runtime_role_cannot_bypass_rls(as_runtime: AsyncConnection) -> None:
    role = (
        await as_runtime.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls, rolinherit FROM pg_roles "
                "WHERE rolname = current_user"
            )
        )
    ).one()
    assert (role.rolsuper, role.rolbypassrls, role.rolinherit) == (False, False, False)
    owned = await as_runtime.scalar(
        text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
    )
    assert owned == 0


async def test_rls_enabled_and_forced_with_policies(as_runtime: AsyncConnection) -> None:
    rows = await as_runtime.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "array_agg(p.polname ORDER BY p.polname) AS policies "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY 1, 2, 3"
        )
    )
    state = {row.relname: row for row in rows}
    for name in TENANT_TABLES:
        assert state[name].relrowsecurity, name
        assert state[name].relforcerowsecurity, name
        assert state[name].policies == ["system_path", "tenant_isolation"], name


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_other_tenant_rows_are_invisible_and_untouchable(
    table: str, world: World, as_runtime: AsyncConnection
) -> None:
    column = tenant_column(table)
    await _in_tenant(as_runtime, world.a)
    tenants_seen = await as_runtime.execute(text(f"SELECT DISTINCT {column} FROM {table}"))
    assert {row[0] for row in tenants_seen} == {world.a}
    seen_b = await as_runtime.scalar(
        text(f"SELECT count(*) FROM {table} WHERE {column} = :b"), {"b": world.b}
    )
    assert seen_b == 0
    for statement in (
        f"UPDATE {table} SET {column} = {column} WHERE {column} = :b",
        f"DELETE FROM {table} WHERE {column} = :b",
    ):
        if table in APPEND_ONLY_TABLES:
            await _permission_denied(as_runtime, statement, {"b": world.b})
            continue
        changed = await as_runtime.execute(text(statement), {"b": world.b})
        assert changed.rowcount == 0


async def _permission_denied(
    conn: AsyncConnection, statement: str, parameters: dict[str, Any] | None = None
) -> None:
    """The runtime role lacks the privilege (an append-only table: no UPDATE or DELETE)."""
    savepoint = await conn.begin_nested()
    with pytest.raises(DBAPIError, match="permission denied"):
        await conn.execute(text(statement), parameters or {})
    await savepoint.rollback()


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_writing_a_row_for_another_tenant_is_rejected(
    table: str, world: World, db: Database, as_runtime: AsyncConnection
) -> None:
    metadata_table: Table = Base.metadata.tables[table]
    async with db.system_uow() as session:
        source = (
            (
                await session.execute(
                    text(f"SELECT * FROM {table} WHERE {tenant_column(table)} = :b LIMIT 1"),
                    {"b": world.b},
                )
            )
            .mappings()
            .one()
        )
    row: dict[str, Any] = dict(source)
    for pk in metadata_table.primary_key.columns:
        if pk.name in ("user_id", "branch_id"):
            continue
        if isinstance(row[pk.name], uuid.UUID):
            row[pk.name] = uuid.uuid4()
        elif isinstance(row[pk.name], int):
            row.pop(pk.name)
    await _in_tenant(as_runtime, world.a)
    savepoint = await as_runtime.begin_nested()
    with pytest.raises(DBAPIError, match="row-level security"):
        await as_runtime.execute(insert(metadata_table).values(**row))
    await savepoint.rollback()

    savepoint = await as_runtime.begin_nested()
    column = tenant_column(table)
    refusal = "permission denied" if table in APPEND_ONLY_TABLES else "row-level security"
    with pytest.raises(DBAPIError, match=refusal):
        await as_runtime.execute(
            text(f"UPDATE {table} SET {column} = :b WHERE {column} = :a"),
            {"a": world.a, "b": world.b},
        )
    await savepoint.rollback()


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_nothing_is_visible_without_a_tenant(
    table: str, world: World, as_runtime: AsyncConnection
) -> None:
    assert await as_runtime.scalar(text(f"SELECT count(*) FROM {table}")) == 0
    if table in APPEND_ONLY_TABLES:
        await _permission_denied(as_runtime, f"DELETE FROM {table}")
        return
    deleted = await as_runtime.execute(text(f"DELETE FROM {table}"))
    assert deleted.rowcount == 0


@pytest.mark.parametrize("table", sorted(GLOBAL_TABLES))
async def test_global_tables_are_read_only_to_requests(
    table: str, world: World, as_runtime: AsyncConnection
) -> None:
    assert await as_runtime.scalar(text(f"SELECT count(*) FROM {table}")) >= 2
    for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET id = id"):
        savepoint = await as_runtime.begin_nested()
        with pytest.raises(DBAPIError, match="permission denied"):
            await as_runtime.execute(text(statement))
        await savepoint.rollback()


async def test_system_path_sees_every_tenant(world: World, db: Database) -> None:
    async with db.system_uow() as session:
        seen = await session.execute(text("SELECT DISTINCT tenant_id FROM branches"))
        assert {world.a, world.b} <= {row[0] for row in seen}
        assert await session.scalar(text("SELECT current_user")) == SYSTEM_ROLE


async def test_tenant_setting_ends_with_the_transaction(world: World, db: Database) -> None:
    async with db.tenant_uow(world.a) as session:
        assert await session.scalar(text("SELECT count(*) FROM tenants")) == 1
    async with db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM tenants")) == 0


async def test_system_role_cannot_be_used_by_inheritance(target: DatabaseTarget) -> None:
    engine = create_async_engine(target.runtime_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            inherited = await conn.scalar(
                text("SELECT has_table_privilege(current_user, 'tenants', 'SELECT')")
            )
            assert inherited
            via_system = await conn.scalar(
                text("SELECT pg_has_role(current_user, :r, 'USAGE')"), {"r": SYSTEM_ROLE}
            )
            assert via_system is False
    finally:
        await engine.dispose()


@pytest.mark.parametrize("table", sorted(SYSTEM_TABLES))
async def test_system_tables_are_closed_to_requests(
    table: str, db: Database, as_runtime: AsyncConnection
) -> None:
    for statement in (f"SELECT * FROM {table}", f"DELETE FROM {table}"):
        savepoint = await as_runtime.begin_nested()
        with pytest.raises(DBAPIError, match="permission denied"):
            await as_runtime.execute(text(statement))
        await savepoint.rollback()
    async with db.system_uow() as session:
        assert await session.scalar(text(f"SELECT count(*) >= 0 FROM {table}"))
