"""Revision 0007's backfill: every invite of 0006 gets the user it links, and the schema
still goes down to 0006 and up again.

The rows are written at revision 0006 as that schema had them (raw SQL, as the server's
superuser, which row-level security does not restrict), then the database is upgraded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from core.db.migrate import downgrade, head_revision, migrate
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.tenancy.invites import TelegramIdentity, hash_invite_code, redeem_invite
from tests.conftest import ScratchDatabases

BACKFILLED = ("users", "invite_codes", "user_branches")
READ_BY_DOWNGRADE = (*BACKFILLED, "branches")
"""The tables the downgrade's data step and its re-created foreign keys read."""


@dataclass
class Old:
    """What was written at 0006: ids of the rows and the plain code of the open invite."""

    tenant: uuid.UUID
    branch: uuid.UUID
    linked_user: int
    existing_user: int
    used: uuid.UUID
    open: uuid.UUID
    open_code: str
    expired: uuid.UUID
    clashing: uuid.UUID
    anonymous: uuid.UUID


@dataclass
class AtRevision6:
    target: DatabaseTarget
    engine: AsyncEngine


@pytest.fixture
async def at_0006(scratch: ScratchDatabases) -> AsyncIterator[AtRevision6]:
    target = await scratch.new_target()
    report = await migrate(target, "0006")
    assert report.to_revision == "0006", report
    engine = create_async_engine(target.admin_url, poolclass=NullPool)
    try:
        yield AtRevision6(target, engine)
    finally:
        await engine.dispose()


async def _scalar(conn: AsyncConnection, sql: str, **values: Any) -> Any:
    return (await conn.execute(text(sql), values)).scalar_one()


async def _invite(conn: AsyncConnection, tenant: uuid.UUID, code: str, **columns: Any) -> uuid.UUID:
    names = ", ".join(["tenant_id", "code_hash", *columns])
    values = ", ".join([":tenant_id", ":code_hash", *(f":{name}" for name in columns)])
    invite_id: uuid.UUID = await _scalar(
        conn,
        f"INSERT INTO invite_codes ({names}) VALUES ({values}) RETURNING id",
        tenant_id=tenant,
        code_hash=hash_invite_code(code),
        **columns,
    )
    return invite_id


def _code() -> str:
    return f"old-{uuid.uuid4().hex}"


async def write_old_rows(engine: AsyncEngine) -> Old:
    """A tenant and branch, two users, and five invites of the 0006 shape."""
    async with engine.begin() as conn:
        tenant = await _scalar(
            conn,
            "INSERT INTO tenants (name, timezone) VALUES (:name, 'Asia/Dhaka') RETURNING id",
            name=f"old-{uuid.uuid4().hex[:8]}",
        )
        branch = await _scalar(
            conn,
            "INSERT INTO branches (tenant_id, code, name) VALUES (:t, 'DHK-01', 'Dhaka') "
            "RETURNING id",
            t=tenant,
        )
        linked = await _scalar(
            conn,
            "INSERT INTO users (tenant_id, role, email, telegram_user_id) "
            "VALUES (:t, 'operator', 'used@example.com', 5550001) RETURNING id",
            t=tenant,
        )
        await conn.execute(
            text("INSERT INTO user_branches (tenant_id, user_id, branch_id) VALUES (:t, :u, :b)"),
            {"t": tenant, "u": linked, "b": branch},
        )
        existing = await _scalar(
            conn,
            "INSERT INTO users (tenant_id, role, email, telegram_user_id) "
            "VALUES (:t, 'head_office_admin', 'taken@example.com', 5550002) RETURNING id",
            t=tenant,
        )
        used = await _invite(
            conn,
            tenant,
            _code(),
            role="operator",
            branch_id=branch,
            email="used@example.com",
            expires_at=await _scalar(conn, "SELECT now() + interval '3 days'"),
            used_at=await _scalar(conn, "SELECT now() - interval '1 day'"),
            used_by_user_id=linked,
        )
        open_code = _code()
        open_invite = await _invite(
            conn,
            tenant,
            open_code,
            role="branch_manager",
            branch_id=branch,
            email="open@example.com",
            expires_at=await _scalar(conn, "SELECT now() + interval '5 days'"),
        )
        expired = await _invite(
            conn,
            tenant,
            _code(),
            role="operator",
            branch_id=branch,
            email="late@example.com",
            expires_at=await _scalar(conn, "SELECT now() - interval '1 day'"),
        )
        clashing = await _invite(
            conn,
            tenant,
            _code(),
            role="operator",
            branch_id=branch,
            email="taken@example.com",
            expires_at=await _scalar(conn, "SELECT now() + interval '5 days'"),
        )
        anonymous = await _invite(
            conn,
            tenant,
            _code(),
            role="head_office_admin",
            expires_at=await _scalar(conn, "SELECT now() + interval '5 days'"),
        )
    return Old(
        tenant=tenant,
        branch=branch,
        linked_user=linked,
        existing_user=existing,
        used=used,
        open=open_invite,
        open_code=open_code,
        expired=expired,
        clashing=clashing,
        anonymous=anonymous,
    )


async def invites_now(engine: AsyncEngine) -> dict[uuid.UUID, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT i.id, i.user_id, i.revoked_at, i.used_at, u.role::text AS role, "
                "u.email, u.status, u.telegram_user_id, "
                "ARRAY(SELECT b.branch_id FROM user_branches b WHERE b.user_id = u.id) "
                "AS branches "
                "FROM invite_codes i LEFT JOIN users u ON u.id = i.user_id"
            )
        )
        return {row.id: row for row in rows}


async def test_backfill_gives_every_invite_its_user(at_0006: AtRevision6) -> None:
    old = await write_old_rows(at_0006.engine)

    report = await migrate(at_0006.target)
    assert report.missing == []
    assert (report.from_revision, report.to_revision) == ("0006", head_revision())

    invites = await invites_now(at_0006.engine)
    assert set(invites) == {old.used, old.open, old.expired, old.clashing, old.anonymous}
    assert all(row.user_id is not None for row in invites.values())

    used = invites[old.used]
    assert (used.user_id, used.revoked_at, used.telegram_user_id) == (
        old.linked_user,
        None,
        5550001,
    )
    assert used.used_at is not None

    opened = invites[old.open]
    assert opened.user_id not in (old.linked_user, old.existing_user)
    assert (opened.role, opened.email, opened.status, opened.revoked_at) == (
        "branch_manager",
        "open@example.com",
        "active",
        None,
    )
    assert opened.telegram_user_id is None
    assert opened.branches == [old.branch]

    expired = invites[old.expired]
    assert (expired.role, expired.email, expired.status) == (
        "operator",
        "late@example.com",
        "disabled",
    )
    assert expired.branches == [old.branch]

    clashing = invites[old.clashing]
    assert clashing.user_id == old.existing_user
    assert clashing.revoked_at is not None
    assert (clashing.role, clashing.status) == ("head_office_admin", "active"), "left as it was"

    anonymous = invites[old.anonymous]
    assert (anonymous.role, anonymous.email, anonymous.status, anonymous.branches) == (
        "head_office_admin",
        None,
        "active",
        [],
    )
    async with at_0006.engine.connect() as conn:
        users = await _scalar(conn, "SELECT count(*) FROM users WHERE tenant_id = :t", t=old.tenant)
        forced = (
            await conn.execute(
                text(
                    "SELECT relname, relforcerowsecurity FROM pg_class "
                    "WHERE relname = ANY(:names) AND relkind = 'r'"
                ),
                {"names": list(BACKFILLED)},
            )
        ).all()
    assert users == 2 + 3, "the open, expired and anonymous invites each made one user"
    assert {row.relname: row.relforcerowsecurity for row in forced} == dict.fromkeys(
        BACKFILLED, True
    )

    # The runtime path sees the backfilled invite: /start links the pre-created user.
    db = Database(at_0006.target.runtime_url, system_url=at_0006.target.system_url, pool_size=1)
    try:
        linked = await redeem_invite(
            db, old.open_code, TelegramIdentity(user_id=5550003, username="opened")
        )
    finally:
        await db.dispose()
    assert linked.id == opened.user_id
    assert (linked.role, linked.email) == ("branch_manager", "open@example.com")


async def unforced(engine: AsyncEngine, force: bool) -> None:
    """Lift (or restore) FORCE ROW LEVEL SECURITY on the tables the downgrade reads, as the
    upgrade's own data step does for itself: stands in for a downgrade that did the same."""
    async with engine.begin() as conn:
        for table in READ_BY_DOWNGRADE:
            setting = "FORCE" if force else "NO FORCE"
            await conn.execute(text(f"ALTER TABLE {table} {setting} ROW LEVEL SECURITY"))


async def round_trip(engine: AsyncEngine, target: DatabaseTarget) -> None:
    """Down to 0006 with its data step unrestricted by row-level security, then back up."""
    await unforced(engine, False)
    await downgrade(target, "0006")
    await unforced(engine, True)
    await migrate(target)


async def test_downgrade_with_invites_works(at_0006: AtRevision6) -> None:
    await write_old_rows(at_0006.engine)
    await migrate(at_0006.target)
    await downgrade(at_0006.target, "0006")


async def test_downgrade_to_0006_and_upgrade_again(at_0006: AtRevision6) -> None:
    old = await write_old_rows(at_0006.engine)
    await migrate(at_0006.target)
    first = await invites_now(at_0006.engine)

    await unforced(at_0006.engine, False)  # the downgrade's own bug: see the test above
    await downgrade(at_0006.target, "0006")
    await unforced(at_0006.engine, True)
    async with at_0006.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, role::text AS role, email, branch_id, used_by_user_id FROM invite_codes"
            )
        )
        back = {row.id: row for row in rows}
        columns = set(
            await conn.scalars(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'invite_codes'"
                )
            )
        )
    assert set(back) == set(first)
    assert "user_id" not in columns
    assert "revoked_at" not in columns
    assert (back[old.used].used_by_user_id, back[old.used].email) == (
        old.linked_user,
        "used@example.com",
    )
    assert (back[old.open].role, back[old.open].email, back[old.open].branch_id) == (
        "branch_manager",
        "open@example.com",
        old.branch,
    )
    assert back[old.open].used_by_user_id is None

    report = await migrate(at_0006.target)
    assert report.missing == []
    assert (report.from_revision, report.to_revision) == ("0006", head_revision())
    again = await invites_now(at_0006.engine)
    assert set(again) == set(first)
    assert all(row.user_id is not None for row in again.values())
    assert again[old.used].user_id == old.linked_user
    assert again[old.clashing].user_id == old.existing_user


async def test_a_round_trip_keeps_open_invites_open(at_0006: AtRevision6) -> None:
    old = await write_old_rows(at_0006.engine)
    await migrate(at_0006.target)
    first = await invites_now(at_0006.engine)
    await round_trip(at_0006.engine, at_0006.target)
    again = await invites_now(at_0006.engine)
    for invite_id in (old.open, old.anonymous):
        assert again[invite_id].revoked_at is None
        # 0006 made the user at redemption, so the round trip makes the invitee anew: the
        # same person (role, email, branches, state), not necessarily the same row.
        person = ("role", "email", "status", "telegram_user_id", "branches")
        assert [getattr(again[invite_id], key) for key in person] == [
            getattr(first[invite_id], key) for key in person
        ]
    async with at_0006.engine.connect() as conn:
        invitees = await _scalar(
            conn, "SELECT count(*) FROM users WHERE email = :email", email="open@example.com"
        )
    assert invitees == 1


async def test_a_revoked_invite_stays_closed_after_downgrade(at_0006: AtRevision6) -> None:
    old = await write_old_rows(at_0006.engine)
    await migrate(at_0006.target)
    async with at_0006.engine.begin() as conn:
        await conn.execute(
            text("UPDATE invite_codes SET revoked_at = now() WHERE id = :id"), {"id": old.anonymous}
        )
    await unforced(at_0006.engine, False)
    await downgrade(at_0006.target, "0006")
    await unforced(at_0006.engine, True)
    async with at_0006.engine.connect() as conn:
        still_open = await _scalar(
            conn,
            "SELECT used_at IS NULL AND expires_at > now() FROM invite_codes WHERE id = :id",
            id=old.anonymous,
        )
    assert not still_open
