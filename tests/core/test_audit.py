"""The audit helper writes inside the caller's transaction: it commits and rolls back with it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import record, snapshot
from core.audit.models import ActivityLog
from core.db.session import Database
from core.tenancy.models import Branch, Tenant


class Boom(Exception):
    pass


async def test_entry_commits_with_the_change(db: Database, tenant: Tenant) -> None:
    async with db.tenant_uow(tenant.id) as session:
        branch = Branch(tenant_id=tenant.id, code="AUD-1", name="Before")
        session.add(branch)
        await session.flush()
        before = snapshot(branch)
        branch.name = "After"
        await session.flush()
        await record(
            session,
            tenant_id=tenant.id,
            action="branch.rename",
            entity_type="branch",
            entity_id=branch.id,
            before=before,
            after=snapshot(branch, exclude={"created_at"}),
            user_id=None,
        )
    async with db.tenant_uow(tenant.id) as session:
        entry = await session.scalar(
            select(ActivityLog).where(ActivityLog.action == "branch.rename")
        )
    assert entry is not None
    assert entry.entity_id == str(branch.id)
    assert entry.before_json is not None
    assert entry.before_json["name"] == "Before"
    assert entry.after_json is not None
    assert entry.after_json["name"] == "After"
    assert "created_at" not in entry.after_json
    assert entry.timestamp is not None


async def test_entry_rolls_back_with_the_change(db: Database, tenant: Tenant) -> None:
    async def change_then_fail() -> None:
        async with db.tenant_uow(tenant.id) as session:
            session.add(Branch(tenant_id=tenant.id, code="AUD-2", name="Doomed"))
            await record(
                session,
                tenant_id=tenant.id,
                action="branch.create",
                entity_type="branch",
                entity_id="AUD-2",
                after={"code": "AUD-2"},
            )
            raise Boom

    with pytest.raises(Boom):
        await change_then_fail()
    async with db.tenant_uow(tenant.id) as session:
        assert await session.scalar(select(Branch).where(Branch.code == "AUD-2")) is None
        assert (
            await session.scalar(select(ActivityLog).where(ActivityLog.entity_id == "AUD-2"))
            is None
        )


async def test_tenant_and_branch_creation_are_audited(db: Database, tenant: Tenant) -> None:
    async with db.tenant_uow(tenant.id) as session:
        actions = set(await session.scalars(select(ActivityLog.action)))
    assert "tenant.create" in actions
