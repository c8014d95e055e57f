"""The audit trail is append-only for the runtime role, and reads back filtered and paged.

- Append-only: as the runtime role (the bot's and the CLI's login) UPDATE and DELETE on
  `activity_logs` are refused by privilege while INSERT (every audited change) still works;
  the trigger of migration 0012 refuses them to everyone else too, a superuser and the
  schema's owner included; the system role may DELETE (retention) but not UPDATE; and
  `intrex migrate` takes the privileges away from a database an earlier release granted.
- Reading: latest first, keyset pages that neither skip nor repeat, filters by entity,
  action (or family), person and day, another tenant's entries never seen, and anyone but
  head office refused.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from core.audit import record
from core.audit.policy import can_read_audit
from core.audit.queries import (
    ENTITY_TYPES,
    AuditCursor,
    AuditFilter,
    find_audit_user,
    list_audit,
    parse_cursor,
    parse_entity,
)
from core.audit.wording import ACTIONS, action_text, change_text, who_text
from core.db.enums import AppRole, ObligationStatus
from core.db.migrate import migrate
from core.db.roles import OWNER_ROLE, SYSTEM_ROLE
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.errors import ErrorCode, PermissionDeniedError, ValidationError
from core.i18n import texts_for
from core.i18n.labels import label
from core.obligations.actions import complete_obligation, waive_obligation
from core.tenancy.scope import console_unit
from core.tenancy.service import BranchChanges, update_branch
from tests.companies import Company, company, obligation, person
from tests.conftest import admin_execute

CORE = Path(__file__).resolve().parents[2] / "core"


async def _refused(conn: AsyncConnection, statement: str, match: str) -> str:
    savepoint = await conn.begin_nested()
    with pytest.raises(DBAPIError, match=match) as refused:
        await conn.execute(text(statement))
    await savepoint.rollback()
    return str(refused.value.orig)


async def test_the_runtime_role_adds_entries_but_cannot_change_or_delete_them(
    db: Database,
) -> None:
    acme = await company(db)
    async with db.tenant_uow(acme.tenant.id) as session:
        entry = await record(
            session,
            tenant_id=acme.tenant.id,
            action="branch.update",
            entity_type="branch",
            entity_id=acme.dhaka.id,
            before={"name": "Dhaka HQ"},
            after={"name": "Dhaka head office"},
        )
    async with db.engine.connect() as conn:
        await conn.begin()
        await conn.execute(
            text("SELECT set_config('app.current_tenant', :t, true)"), {"t": str(acme.tenant.id)}
        )
        assert await conn.scalar(text("SELECT current_user")) not in (SYSTEM_ROLE, OWNER_ROLE)
        for statement in (
            f"UPDATE activity_logs SET action = 'forged' WHERE id = {entry.id}",
            f"DELETE FROM activity_logs WHERE id = {entry.id}",
            "TRUNCATE activity_logs",
        ):
            refusal = await _refused(conn, statement, "permission denied")
            assert "activity_logs" in refusal
        kept = await conn.scalar(text(f"SELECT action FROM activity_logs WHERE id = {entry.id}"))
        assert kept == "branch.update"
        await conn.rollback()


async def _as(url: URL, *transactions: tuple[str, ...]) -> list[str]:
    """Run each transaction's statements, then roll it back; the refusals, in order."""
    refusals = []
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for statements in transactions:
                transaction = await conn.begin()
                try:
                    for statement in statements:
                        await conn.execute(text(statement))
                    refusals.append("")
                except DBAPIError as exc:
                    refusals.append(str(exc.orig))
                finally:
                    await transaction.rollback()
    finally:
        await engine.dispose()
    return refusals


async def test_the_trigger_refuses_a_superuser_and_the_owner_too(
    db: Database, target: DatabaseTarget
) -> None:
    acme = await company(db)
    mine = f"tenant_id = '{acme.tenant.id}'"
    refusals = await _as(
        target.admin_url,
        (f"UPDATE activity_logs SET action = 'forged' WHERE {mine}",),
        (f"DELETE FROM activity_logs WHERE {mine}",),
        (f"SET LOCAL ROLE {OWNER_ROLE}", f"DELETE FROM activity_logs WHERE {mine}"),
    )
    assert "activity_logs is append-only: UPDATE is refused for role postgres" in refusals[0]
    assert "activity_logs is append-only: DELETE is refused for role postgres" in refusals[1]
    assert f"DELETE is refused for role {OWNER_ROLE}" in refusals[2]
    async with db.tenant_uow(acme.tenant.id) as session:
        assert await session.scalar(text("SELECT count(*) FROM activity_logs")) >= 3


async def test_the_system_role_deletes_for_retention_but_never_updates(
    db: Database, target: DatabaseTarget
) -> None:
    acme = await company(db)
    mine = f"tenant_id = '{acme.tenant.id}'"
    async with db.system_engine.connect() as conn:
        assert await conn.scalar(text("SELECT current_user")) == SYSTEM_ROLE
        await conn.rollback()
        await conn.begin()
        deleted = await conn.execute(text(f"DELETE FROM activity_logs WHERE {mine}"))
        assert deleted.rowcount >= 3
        await conn.rollback()
        await conn.begin()
        refusal = await _refused(
            conn, f"UPDATE activity_logs SET action = 'x' WHERE {mine}", "permission denied"
        )
        assert "activity_logs" in refusal
        await conn.rollback()
    async with db.tenant_uow(acme.tenant.id) as session:
        assert await session.scalar(text("SELECT count(*) FROM activity_logs")) >= 3


PRIVILEGES = (
    "SELECT has_table_privilege(:role, 'activity_logs', 'SELECT'), "
    "has_table_privilege(:role, 'activity_logs', 'INSERT'), "
    "has_table_privilege(:role, 'activity_logs', 'UPDATE'), "
    "has_table_privilege(:role, 'activity_logs', 'DELETE')"
)


async def _privileges(url: URL, role: str) -> tuple[bool, ...]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return tuple((await conn.execute(text(PRIVILEGES), {"role": role})).one())
    finally:
        await engine.dispose()


async def test_migrate_takes_update_and_delete_from_an_earlier_releases_database(
    private_target: DatabaseTarget,
) -> None:
    admin, runtime = private_target.admin_url, private_target.runtime_role
    assert await _privileges(admin, runtime) == (True, True, False, False)
    assert await _privileges(admin, SYSTEM_ROLE) == (True, True, False, True)
    await admin_execute(
        admin,
        f'GRANT UPDATE, DELETE ON activity_logs TO "{runtime}", {SYSTEM_ROLE}',
    )
    assert await _privileges(admin, runtime) == (True, True, True, True)

    report = await migrate(private_target)

    assert report.missing == []
    assert await _privileges(admin, runtime) == (True, True, False, False)
    assert await _privileges(admin, SYSTEM_ROLE) == (True, True, False, True)
    engine = create_async_engine(admin, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            triggers = await conn.scalars(
                text(
                    "SELECT tgname FROM pg_trigger "
                    "WHERE tgrelid = 'activity_logs'::regclass AND NOT tgisinternal"
                )
            )
            assert list(triggers) == ["activity_logs_append_only"]
    finally:
        await engine.dispose()


async def _history(db: Database) -> tuple[Company, int]:
    """A company where Karim (head office) completed the fire drill and renamed a branch."""
    acme = await company(db)
    karim = await person(db, acme.tenant, AppRole.head_office_admin, [], name="Karim Ahmed")
    fire = await obligation(db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=False)
    async with karim() as (session, actor):
        await complete_obligation(session, actor, fire)
    async with karim() as (session, actor):
        await update_branch(session, actor, "CTG-02", BranchChanges(name="Chattogram port"))
    return acme, karim.user_id


async def test_latest_first_in_pages_that_neither_skip_nor_repeat(db: Database) -> None:
    acme, karim = await _history(db)
    async with console_unit(db, acme.tenant.id) as (session, actor):
        everything = await list_audit(session, actor, limit=500)
        entries = everything.entries
        assert [entry.cursor for entry in entries] == sorted(
            (entry.cursor for entry in entries),
            key=lambda cursor: (cursor.timestamp, cursor.id),
            reverse=True,
        )
        assert [entry.action for entry in entries[:2]] == ["branch.update", "obligation.complete"]
        assert {"tenant.create", "branch.create", "obligation_template.create"} <= {
            entry.action for entry in entries
        }
        assert everything.newer is None
        assert everything.older is None

        pages, cursor = [], None
        while True:
            page = await list_audit(session, actor, limit=2, before=cursor)
            pages.append(page)
            if page.older is None:
                break
            cursor = page.older
        assert [entry.id for page in pages for entry in page.entries] == [e.id for e in entries]
        assert pages[0].newer is None
        assert all(page.newer is not None for page in pages[1:])
        back = await list_audit(session, actor, limit=2, after=pages[1].newer)
        assert [entry.id for entry in back.entries] == [entry.id for entry in pages[0].entries]
        assert back.newer is None
        assert back.older == pages[0].older

    renamed, completed = entries[0], entries[1]
    assert (renamed.user_id, renamed.user_name) == (karim, "Karim Ahmed")
    assert [(c.field, c.before, c.after) for c in renamed.changes] == [
        ("name", "Chattogram", "Chattogram port")
    ]
    assert renamed.subject == "CTG-02"
    changes = {change.field: (change.before, change.after) for change in completed.changes}
    assert changes["status"] == ("upcoming", "completed")
    assert changes["completed_by_user_id"] == (None, karim)
    assert everything.user_names[karim] == "Karim Ahmed"
    assert completed.subject == "Fire drill"


async def test_filters_by_entity_action_person_and_day(db: Database) -> None:
    acme, karim = await _history(db)
    async with console_unit(db, acme.tenant.id) as (session, actor):

        async def actions(filters: AuditFilter) -> list[str]:
            return [entry.action for entry in (await list_audit(session, actor, filters)).entries]

        kind, identity = parse_entity(f"branch:{acme.chattogram.id.hex}")
        assert (kind, identity) == ("branch", str(acme.chattogram.id))
        assert await actions(AuditFilter(entity_type=kind, entity_id=identity)) == [
            "branch.update",
            "branch.create",
        ]
        assert set(await actions(AuditFilter(entity_type="obligation_template"))) == {
            "obligation_template.create"
        }
        assert await actions(AuditFilter(action="obligation.complete")) == ["obligation.complete"]
        family = await actions(AuditFilter(action="branch.*"))
        assert family
        assert all(action.startswith("branch.") for action in family)
        assert await actions(AuditFilter(action="branch_*")) == []
        assert await actions(AuditFilter(user_id=karim)) == [
            "branch.update",
            "obligation.complete",
        ]
        assert await find_audit_user(session, "karim ahmed") == karim
        assert await find_audit_user(session, str(karim)) == karim
        today = actor.today
        assert len(await actions(AuditFilter(since=today, until=today))) >= 5
        assert await actions(AuditFilter(since=today + timedelta(days=1))) == []
        assert await actions(AuditFilter(until=today - timedelta(days=1))) == []

    with pytest.raises(ValidationError) as unknown:
        parse_entity("obligaton")
    assert unknown.value.code is ErrorCode.value_unknown
    assert "obligation_instance" in unknown.value.message


async def test_another_tenants_entries_are_never_listed(db: Database) -> None:
    acme, _ = await _history(db)
    other, _ = await _history(db)
    seen = {}
    for owner in (acme, other):
        async with console_unit(db, owner.tenant.id) as (session, actor):
            page = await list_audit(session, actor, limit=500)
            seen[owner.tenant.id] = {entry.id for entry in page.entries}
            foreign = other if owner is acme else acme
            elsewhere = AuditFilter(entity_type="tenant", entity_id=str(foreign.tenant.id))
            assert (await list_audit(session, actor, elsewhere)).entries == []
    assert seen[acme.tenant.id]
    assert seen[other.tenant.id]
    assert not seen[acme.tenant.id] & seen[other.tenant.id]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (AppRole.head_office_admin, True),
        (AppRole.branch_manager, False),
        (AppRole.operator, False),
    ],
)
async def test_only_head_office_reads_the_trail(db: Database, role: AppRole, allowed: bool) -> None:
    acme = await company(db)
    branches = [] if role.head_office else [acme.dhaka]
    someone = await person(db, acme.tenant, role, branches)
    async with someone() as (session, actor):
        assert can_read_audit(actor) is allowed
        if allowed:
            assert (await list_audit(session, actor)).entries
            return
        with pytest.raises(PermissionDeniedError) as refused:
            await list_audit(session, actor)
    assert refused.value.code is ErrorCode.head_office_only


async def test_entries_read_in_words_in_either_language(db: Database) -> None:
    acme, _ = await _history(db)
    fire = await obligation(db, acme, acme.chattogram, "Fire safety", due_in_days=9, proof=False)
    async with console_unit(db, acme.tenant.id) as (session, actor):
        await waive_obligation(session, actor, fire, "Closed for rebuilding " + "x" * 200)
    async with console_unit(db, acme.tenant.id) as (session, actor):
        page = await list_audit(session, actor, limit=50)
    by_action = {entry.action: entry for entry in reversed(page.entries)}
    waived, renamed, completed = (
        by_action[action] for action in ("obligation.waive", "branch.update", "obligation.complete")
    )
    english, bengali = texts_for("en"), texts_for("bn")
    assert action_text(english, completed.action) == "completed an obligation"
    assert action_text(bengali, completed.action) != "completed an obligation"
    assert who_text(english, waived) == "the command line or Intrex itself"
    status = next(change for change in completed.changes if change.field == "status")
    assert change_text(english, page, completed, status, "Asia/Dhaka") == (
        "status: upcoming → completed"
    )
    in_bengali = change_text(bengali, page, completed, status, "Asia/Dhaka")
    assert label(bengali, ObligationStatus.completed) in in_bengali
    assert label(bengali, ObligationStatus.upcoming) in in_bengali
    completer = next(c for c in completed.changes if c.field == "completed_by_user_id")
    assert change_text(english, page, completed, completer, "Asia/Dhaka") == (
        "completed by: — → Karim Ahmed"
    )
    reason = next(change for change in waived.changes if change.field == "waive_reason")
    clipped = change_text(english, page, waived, reason, "Asia/Dhaka")
    assert clipped.startswith("waiver reason: — → Closed for rebuilding x")
    assert "…" in clipped
    assert len(clipped) < 100
    moved = next(change for change in renamed.changes if change.field == "name")
    assert change_text(english, page, renamed, moved, "Asia/Dhaka") == (
        "name: Chattogram → Chattogram port"
    )


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    cursor = parse_cursor("6323b1c9f8a10.2a")
    assert parse_cursor(cursor.token) == cursor
    assert isinstance(cursor, AuditCursor)
    assert cursor.id == 42
    for forged in ("", "x.1", "1", "1.2.3", "f" * 15 + ".1", "1:2"):
        with pytest.raises(ValidationError) as refused:
            parse_cursor(forged)
        assert refused.value.code is ErrorCode.audit_cursor_invalid


def test_every_action_and_entity_core_records_has_words() -> None:
    """`grep -rn 'action="' core`, as the catalogue of actions was made from."""
    recorded: set[str] = set()
    entities: set[str] = set()
    for path in CORE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for line in source.splitlines():
            if "action" in line and "ErrorCode" not in line:
                recorded.update(re.findall(r'"([a-z_]+\.[a-z_]+(?:\.[a-z_]+)?)"', line))
        entities.update(re.findall(r'entity_type="([a-z_]+)"', source))
    recorded |= {"connector.disable", "connector.enable", "user.update"}
    assert recorded - set(ACTIONS) == set()
    assert entities - ENTITY_TYPES == set()
