"""Invite codes: single use, expiring, stored hashed, refused when wrong; linking writes audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from core.audit.models import ActivityLog
from core.db.enums import AppRole
from core.db.session import Database
from core.errors import ConflictError, ErrorCode, NotFoundError, ValidationError
from core.tenancy.models import InviteCode, Tenant, User, UserBranch
from core.tenancy.service import (
    TelegramIdentity,
    create_invite,
    hash_invite_code,
    redeem_invite,
)
from tests.companies import new_branch

_next_telegram_id = iter(range(10_000_000, 20_000_000))


def identity() -> TelegramIdentity:
    return TelegramIdentity(user_id=next(_next_telegram_id), username="rahim", full_name="Rahim U")


@pytest.fixture
async def branch_code(db: Database, tenant: Tenant) -> str:
    branch = await new_branch(db, tenant, "ctg-02", name="Chattogram")
    return branch.code


async def test_code_is_stored_only_as_its_hash(
    db: Database, tenant: Tenant, branch_code: str
) -> None:
    issued = await create_invite(db, tenant, role=AppRole.operator, branch_code=branch_code)
    async with db.tenant_uow(tenant.id) as session:
        row = await session.get_one(InviteCode, issued.invite.id)
        dumped = await session.scalar(
            text("SELECT i::text FROM invite_codes i WHERE id = :id"), {"id": row.id}
        )
        audit = await session.scalar(
            select(ActivityLog.after_json).where(ActivityLog.entity_id == str(row.id))
        )
    assert row.code_hash == hash_invite_code(issued.code) != issued.code
    assert issued.code not in (dumped or "")
    assert audit is not None
    assert issued.code not in str(audit)
    assert "code_hash" not in audit
    assert row.expires_at - row.created_at == pytest.approx(
        timedelta(days=7), abs=timedelta(seconds=5)
    )


async def test_redeem_links_user_with_branch_scope_and_audit(
    db: Database, tenant: Tenant, branch_code: str
) -> None:
    issued = await create_invite(
        db, tenant, role=AppRole.branch_manager, branch_code=branch_code, email="M@Example.com"
    )
    who = identity()
    user = await redeem_invite(db, issued.code, who)
    assert (user.tenant_id, user.role, user.telegram_user_id) == (
        tenant.id,
        AppRole.branch_manager,
        who.user_id,
    )
    assert user.email == "m@example.com"
    async with db.tenant_uow(tenant.id) as session:
        scopes = (
            await session.scalars(select(UserBranch).where(UserBranch.user_id == user.id))
        ).all()
        invite = await session.get_one(InviteCode, issued.invite.id)
        log = await session.scalar(
            select(ActivityLog).where(
                ActivityLog.action == "user.link", ActivityLog.user_id == user.id
            )
        )
    assert [scope.branch_id for scope in scopes] == [issued.invite.branch_id]
    assert invite.used_at is not None
    assert invite.used_by_user_id == user.id
    assert log is not None
    assert log.after_json is not None
    assert log.after_json["telegram_user_id"] == who.user_id


async def test_code_is_single_use(db: Database, tenant: Tenant) -> None:
    issued = await create_invite(db, tenant, role=AppRole.head_office_admin)
    await redeem_invite(db, issued.code, identity())
    with pytest.raises(ConflictError, match="already been used"):
        await redeem_invite(db, issued.code, identity())


async def test_concurrent_redemptions_have_one_winner(db: Database, tenant: Tenant) -> None:
    issued = await create_invite(db, tenant, role=AppRole.head_office_admin)
    results = await asyncio.gather(
        *(redeem_invite(db, issued.code, identity()) for _ in range(4)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, User)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1
    assert len(losers) == 3
    async with db.tenant_uow(tenant.id) as session:
        linked = await session.scalar(
            select(text("count(*)")).select_from(User).where(User.telegram_user_id.is_not(None))
        )
    assert linked == 1


async def test_expired_code_is_refused(db: Database, tenant: Tenant) -> None:
    issued_at = datetime.now(UTC) - timedelta(days=2)
    issued = await create_invite(
        db, tenant, role=AppRole.head_office_admin, ttl=timedelta(days=1), now=issued_at
    )
    with pytest.raises(ValidationError, match="expired"):
        await redeem_invite(db, issued.code, identity())
    just_before = issued.invite.expires_at - timedelta(seconds=1)
    user = await redeem_invite(db, issued.code, identity(), now=just_before)
    assert user.role is AppRole.head_office_admin


@pytest.mark.parametrize("code", ["x" * 24, "short", "bad code with spaces!", ""])
async def test_wrong_or_malformed_code_is_refused(db: Database, code: str) -> None:
    with pytest.raises((NotFoundError, ValidationError), match="not valid"):
        await redeem_invite(db, code, identity())


async def test_telegram_account_links_only_once(db: Database, tenant: Tenant) -> None:
    first = await create_invite(db, tenant, role=AppRole.head_office_admin)
    second = await create_invite(db, tenant, role=AppRole.head_office_admin)
    who = identity()
    await redeem_invite(db, first.code, who)
    with pytest.raises(ConflictError, match="already linked"):
        await redeem_invite(db, second.code, who)


async def test_an_email_already_in_the_tenant_is_named(db: Database, tenant: Tenant) -> None:
    first = await create_invite(db, tenant, role=AppRole.head_office_admin, email="Ayesha@x.test")
    second = await create_invite(db, tenant, role=AppRole.head_office_admin, email="ayesha@x.test")
    await redeem_invite(db, first.code, identity())
    with pytest.raises(ConflictError) as refused:
        await redeem_invite(db, second.code, identity())
    assert refused.value.code is ErrorCode.email_taken
    assert refused.value.message == "Someone in this tenant already has the email ayesha@x.test."


@pytest.mark.parametrize(
    ("role", "branch", "code", "message"),
    [
        (
            AppRole.operator,
            None,
            ErrorCode.invite_branch_needed,
            "An invite for the operator role needs a branch: name its code.",
        ),
        (
            AppRole.branch_manager,
            None,
            ErrorCode.invite_branch_needed,
            "An invite for the branch manager role needs a branch: name its code.",
        ),
        (
            AppRole.head_office_admin,
            "CTG-02",
            ErrorCode.invite_branch_unwanted,
            "Head office admins act for every branch: leave out the branch.",
        ),
        (AppRole.operator, "NOPE-9", ErrorCode.branch_not_found, "There is no branch NOPE-9."),
    ],
)
async def test_invite_scope_rules(
    db: Database,
    tenant: Tenant,
    branch_code: str,
    role: AppRole,
    branch: str | None,
    code: ErrorCode,
    message: str,
) -> None:
    with pytest.raises((ValidationError, NotFoundError)) as refused:
        await create_invite(db, tenant, role=role, branch_code=branch)
    assert refused.value.code is code
    assert refused.value.message == message
