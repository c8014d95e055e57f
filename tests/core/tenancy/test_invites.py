"""Invites (SPEC §5): the invited person exists from the start; the code is single use,
expiring, stored hashed, revocable; `/start CODE` links Telegram to that same person."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.audit.models import ActivityLog
from core.db.enums import AppRole, InviteState, UserStatus
from core.db.session import Database
from core.errors import (
    ConflictError,
    ErrorCode,
    IntrexError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.tenancy.invites import (
    InviteRequest,
    TelegramIdentity,
    create_invite,
    find_invite,
    hash_invite_code,
    list_invites,
    redeem_invite,
    revoke_invite,
)
from core.tenancy.models import Branch, InviteCode, Tenant, User, UserBranch
from core.tenancy.people import PeopleFilter, branches_by_code, list_people, parse_role
from core.tenancy.scope import ActorUnits, console_unit
from core.tenancy.service import set_branch_active
from tests.companies import Company, company, invite, new_tenant, person


def identity(username: str | None = "rahim", name: str | None = "Rahim U") -> TelegramIdentity:
    """A Telegram account no other test uses (the column is unique across tenants)."""
    return TelegramIdentity(
        user_id=10**12 + uuid.uuid4().int % 10**12, username=username, full_name=name
    )


async def user_row(db: Database, tenant: Tenant, user_id: int) -> User:
    async with db.tenant_uow(tenant.id) as session:
        return await session.get_one(User, user_id)


async def invite_row(db: Database, tenant: Tenant, invite_id: uuid.UUID) -> InviteCode:
    async with db.tenant_uow(tenant.id) as session:
        return await session.get_one(InviteCode, invite_id)


async def audit_rows(
    db: Database, tenant: Tenant, action: str, entity_id: object
) -> list[ActivityLog]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(ActivityLog)
                .where(ActivityLog.action == action, ActivityLog.entity_id == str(entity_id))
                .order_by(ActivityLog.id)
            )
        )


async def branch_codes_of(db: Database, tenant: Tenant, user_id: int) -> list[str]:
    async with db.tenant_uow(tenant.id) as session:
        return list(
            await session.scalars(
                select(Branch.code)
                .join(UserBranch, UserBranch.branch_id == Branch.id)
                .where(UserBranch.user_id == user_id)
                .order_by(Branch.code)
            )
        )


async def console_revoke(db: Database, tenant: Tenant, invite_id: uuid.UUID) -> Any:
    async with console_unit(db, tenant.id) as (session, actor):
        return await revoke_invite(session, actor, invite_id)


@pytest.fixture
async def firm(db: Database) -> Company:
    return await company(db)


# The code: hashed, audited without it, single use, expiring, well-formed


async def test_code_is_stored_only_as_its_hash(db: Database, firm: Company) -> None:
    issued = await invite(db, firm.tenant, AppRole.operator, ["CTG-02"])
    async with db.tenant_uow(firm.tenant.id) as session:
        row = await session.get_one(InviteCode, issued.invite_id)
        dumped = await session.scalar(
            text("SELECT i::text FROM invite_codes i WHERE id = :id"), {"id": row.id}
        )
        audits = list(
            await session.scalars(
                select(ActivityLog).where(
                    ActivityLog.entity_id.in_([str(row.id), str(issued.person.id)])
                )
            )
        )
    assert row.code_hash == hash_invite_code(issued.code) != issued.code
    assert issued.code not in (dumped or "")
    assert {entry.action for entry in audits} == {"invite.create", "user.invite"}
    for entry in audits:
        assert issued.code not in str(entry.after_json)
        assert row.code_hash not in str(entry.after_json)
        assert "code_hash" not in (entry.after_json or {})
    assert row.expires_at - row.created_at == pytest.approx(
        timedelta(days=7), abs=timedelta(seconds=5)
    )
    assert issued.deep_link("intrex_bot") == f"https://t.me/intrex_bot?start={issued.code}"


async def test_code_is_single_use(db: Database, tenant: Tenant) -> None:
    issued = await invite(db, tenant, AppRole.head_office_admin)
    await redeem_invite(db, issued.code, identity())
    with pytest.raises(ConflictError) as refused:
        await redeem_invite(db, issued.code, identity())
    assert refused.value.code is ErrorCode.invite_used
    assert refused.value.message == "This invite has already been used. Ask for a new one."


async def test_concurrent_redemptions_have_one_winner(db: Database, tenant: Tenant) -> None:
    issued = await invite(db, tenant, AppRole.head_office_admin)
    accounts = [identity() for _ in range(4)]
    results = await asyncio.gather(
        *(redeem_invite(db, issued.code, who) for who in accounts), return_exceptions=True
    )
    winners = [result for result in results if isinstance(result, User)]
    losers = [result for result in results if isinstance(result, ConflictError)]
    assert len(winners) == 1
    assert [loser.code for loser in losers] == [ErrorCode.invite_used] * 3
    async with db.tenant_uow(tenant.id) as session:
        linked = list(
            await session.scalars(select(User.telegram_user_id).where(User.id == issued.person.id))
        )
        users = await session.scalar(select(func.count()).select_from(User))
    assert linked == [winners[0].telegram_user_id]
    assert users == 1, "redeeming makes no user: the invited one is linked"


async def test_expired_code_is_refused_and_valid_just_before(db: Database, tenant: Tenant) -> None:
    issued_at = datetime.now(UTC) - timedelta(days=2)
    issued = await invite(
        db, tenant, AppRole.head_office_admin, ttl=timedelta(days=1), now=issued_at
    )
    assert issued.expires_at == issued_at + timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        await redeem_invite(db, issued.code, identity())
    assert refused.value.code is ErrorCode.invite_expired
    assert refused.value.message == "This invite has expired. Ask for a new one."
    with pytest.raises(ValidationError):
        await redeem_invite(db, issued.code, identity(), now=issued.expires_at)
    user = await redeem_invite(
        db, issued.code, identity(), now=issued.expires_at - timedelta(seconds=1)
    )
    assert (user.id, user.role) == (issued.person.id, AppRole.head_office_admin)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("x" * 24, NotFoundError),
        ("short", ValidationError),
        ("bad code with spaces!", ValidationError),
        ("", ValidationError),
        ("y" * 65, ValidationError),
    ],
)
async def test_wrong_or_malformed_code_is_refused(
    db: Database, code: str, kind: type[IntrexError]
) -> None:
    with pytest.raises(kind) as refused:
        await redeem_invite(db, code, identity())
    assert refused.value.code is ErrorCode.invite_invalid
    assert refused.value.message.startswith("This invite code is not valid.")


async def test_telegram_account_links_only_once(db: Database, tenant: Tenant) -> None:
    first = await invite(db, tenant, AppRole.head_office_admin)
    second = await invite(db, tenant, AppRole.head_office_admin)
    who = identity()
    await redeem_invite(db, first.code, who)
    with pytest.raises(ConflictError) as refused:
        await redeem_invite(db, second.code, who)
    assert refused.value.code is ErrorCode.already_linked
    assert (await invite_row(db, tenant, second.invite_id)).used_at is None
    assert (await user_row(db, tenant, second.person.id)).telegram_user_id is None


async def test_the_same_telegram_account_racing_two_invites_links_once(
    db: Database, tenant: Tenant
) -> None:
    first = await invite(db, tenant, AppRole.head_office_admin)
    second = await invite(db, tenant, AppRole.head_office_admin)
    who = identity()
    results = await asyncio.gather(
        redeem_invite(db, first.code, who),
        redeem_invite(db, second.code, who),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["ConflictError", "User"]
    refusal = next(result for result in results if isinstance(result, ConflictError))
    assert refusal.code is ErrorCode.already_linked
    async with db.tenant_uow(tenant.id) as session:
        linked = await session.scalar(
            select(func.count()).where(User.telegram_user_id == who.user_id)
        )
    assert linked == 1


async def test_an_email_of_a_linked_user_is_refused(db: Database, tenant: Tenant) -> None:
    first = await invite(db, tenant, AppRole.head_office_admin, email="Ayesha@X.test")
    await redeem_invite(db, first.code, identity())
    with pytest.raises(ConflictError) as refused:
        await invite(db, tenant, AppRole.head_office_admin, email="ayesha@x.test")
    assert refused.value.code is ErrorCode.email_taken
    assert refused.value.message == "Someone in this tenant already has the email ayesha@x.test."
    async with db.tenant_uow(tenant.id) as session:
        assert await session.scalar(select(func.count()).select_from(InviteCode)) == 1


async def test_a_malformed_email_is_refused(db: Database, tenant: Tenant) -> None:
    with pytest.raises(ValidationError) as refused:
        await invite(db, tenant, AppRole.head_office_admin, email="not an email")
    assert refused.value.code is ErrorCode.email_invalid


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(days=-1), timedelta(days=91)])
async def test_ttl_out_of_range_is_refused(db: Database, tenant: Tenant, ttl: timedelta) -> None:
    with pytest.raises(ValidationError) as refused:
        await invite(db, tenant, AppRole.head_office_admin, ttl=ttl)
    assert refused.value.code is ErrorCode.invite_ttl_invalid


# The invited person exists before linking, and linking is that person


async def test_invited_person_exists_before_linking(db: Database, firm: Company) -> None:
    issued = await invite(
        db,
        firm.tenant,
        parse_role("Operator"),
        ["dhk-01", "CTG-02"],
        email="  Karim@Example.COM ",
        name="  Karim   Ahmed ",
    )
    user = await user_row(db, firm.tenant, issued.person.id)
    assert (user.role, user.status, user.email, user.full_name) == (
        AppRole.operator,
        UserStatus.active.value,
        "karim@example.com",
        "Karim Ahmed",
    )
    assert user.telegram_user_id is None
    assert await branch_codes_of(db, firm.tenant, user.id) == ["CTG-02", "DHK-01"]
    assert issued.person.branch_codes == ("CTG-02", "DHK-01")
    assert issued.person.invite_expires_at == issued.expires_at
    assert (await invite_row(db, firm.tenant, issued.invite_id)).user_id == user.id
    [created] = await audit_rows(db, firm.tenant, "user.invite", user.id)
    assert created.after_json is not None
    assert created.after_json["branches"] == ["CTG-02", "DHK-01"]
    assert "password_hash" not in created.after_json

    async with console_unit(db, firm.tenant.id) as (session, actor):
        page = await list_people(session, actor, PeopleFilter(role=AppRole.operator))
    [listed] = page.items
    assert listed.id == user.id
    assert not listed.linked
    assert listed.invite_expires_at == issued.expires_at
    assert listed.name == "Karim Ahmed"
    assert listed.branch_codes == ("CTG-02", "DHK-01")


async def test_redeeming_links_that_same_user_and_audits_it(db: Database, firm: Company) -> None:
    issued = await invite(
        db, firm.tenant, parse_role("BRANCH-MANAGER"), ["DHK-01"], email="m@example.com"
    )
    who = identity(username="karim_dhk", name="Karim A")
    moment = datetime.now(UTC)
    linked = await redeem_invite(db, issued.code, who, now=moment)
    assert linked.id == issued.person.id
    user = await user_row(db, firm.tenant, issued.person.id)
    assert (user.telegram_user_id, user.telegram_username, user.telegram_name) == (
        who.user_id,
        "karim_dhk",
        "Karim A",
    )
    assert (user.role, user.email, user.last_seen_at) == (
        AppRole.branch_manager,
        "m@example.com",
        moment,
    )
    assert await branch_codes_of(db, firm.tenant, user.id) == ["DHK-01"]
    row = await invite_row(db, firm.tenant, issued.invite_id)
    assert row.used_at == moment
    [log] = await audit_rows(db, firm.tenant, "user.link", user.id)
    assert log.user_id == user.id
    assert log.before_json is not None
    assert log.after_json is not None
    assert log.before_json["telegram_user_id"] is None
    assert log.after_json["telegram_user_id"] == who.user_id
    assert log.after_json["telegram_username"] == "karim_dhk"

    async with console_unit(db, firm.tenant.id) as (session, actor):
        [listed] = (await list_people(session, actor)).items
        open_invites = await list_invites(session, actor)
    assert listed.linked
    assert listed.invite_expires_at is None
    assert listed.name == "Karim A (@karim_dhk)"
    assert open_invites == []


async def test_invite_name_fills_in_only_a_missing_name(db: Database, tenant: Tenant) -> None:
    issued = await invite(db, tenant, AppRole.head_office_admin, name="Nadia Islam")
    await redeem_invite(db, issued.code, identity(name="nadia.tg"))
    user = await user_row(db, tenant, issued.person.id)
    assert (user.full_name, user.telegram_name) == ("Nadia Islam", "nadia.tg")


# Revoking and inviting again


async def test_revoked_invite_is_refused_and_its_person_disabled(
    db: Database, tenant: Tenant
) -> None:
    issued = await invite(db, tenant, AppRole.head_office_admin, email="gone@example.com")
    view = await console_revoke(db, tenant, issued.invite_id)
    assert view.state is InviteState.revoked
    assert view.revoked_at is not None
    row = await invite_row(db, tenant, issued.invite_id)
    assert row.revoked_at is not None
    assert row.revoked_by_user_id is None
    user = await user_row(db, tenant, issued.person.id)
    assert user.status == UserStatus.disabled.value

    [revoked] = await audit_rows(db, tenant, "invite.revoke", issued.invite_id)
    assert revoked.before_json is not None
    assert revoked.after_json is not None
    assert revoked.before_json["revoked_at"] is None
    assert revoked.after_json["revoked_at"] is not None
    assert "code_hash" not in revoked.after_json
    [disabled] = await audit_rows(db, tenant, "user.disable", user.id)
    assert disabled.before_json is not None
    assert disabled.after_json is not None
    assert (disabled.before_json["status"], disabled.after_json["status"]) == (
        "active",
        "disabled",
    )

    with pytest.raises(ConflictError) as refused:
        await redeem_invite(db, issued.code, identity())
    assert refused.value.code is ErrorCode.invite_revoked
    assert refused.value.message == "This invite has been withdrawn. Ask for a new one."
    assert (await user_row(db, tenant, issued.person.id)).telegram_user_id is None


async def test_revoking_twice_or_a_used_or_expired_invite_is_refused(
    db: Database, tenant: Tenant
) -> None:
    open_one = await invite(db, tenant, AppRole.head_office_admin)
    await console_revoke(db, tenant, open_one.invite_id)
    with pytest.raises(ConflictError) as twice:
        await console_revoke(db, tenant, open_one.invite_id)
    assert twice.value.code is ErrorCode.invite_closed
    assert twice.value.message == "This invite is revoked already: there is nothing to revoke."

    used = await invite(db, tenant, AppRole.head_office_admin)
    await redeem_invite(db, used.code, identity())
    with pytest.raises(ConflictError) as closed:
        await console_revoke(db, tenant, used.invite_id)
    assert closed.value.message == "This invite is used already: there is nothing to revoke."
    assert (await user_row(db, tenant, used.person.id)).status == UserStatus.active.value

    expired = await invite(
        db,
        tenant,
        AppRole.head_office_admin,
        ttl=timedelta(hours=1),
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    with pytest.raises(ConflictError) as late:
        await console_revoke(db, tenant, expired.invite_id)
    assert late.value.params == {"state": InviteState.expired}

    with pytest.raises(NotFoundError) as missing:
        await console_revoke(db, tenant, uuid.uuid4())
    assert missing.value.code is ErrorCode.invite_not_found


async def test_inviting_an_unlinked_email_again_reuses_the_person(
    db: Database, firm: Company
) -> None:
    first = await invite(
        db, firm.tenant, AppRole.operator, ["DHK-01"], email="sumi@example.com", name="Sumi"
    )
    second = await invite(
        db, firm.tenant, AppRole.branch_manager, ["CTG-02"], email="SUMI@example.com"
    )
    assert second.person.id == first.person.id
    user = await user_row(db, firm.tenant, first.person.id)
    assert (user.role, user.full_name) == (AppRole.branch_manager, "Sumi")
    assert await branch_codes_of(db, firm.tenant, user.id) == ["CTG-02"]
    assert (await invite_row(db, firm.tenant, first.invite_id)).revoked_at is not None
    assert (await invite_row(db, firm.tenant, second.invite_id)).revoked_at is None
    async with console_unit(db, firm.tenant.id) as (session, actor):
        assert [view.id for view in await list_invites(session, actor)] == [second.invite_id]
        assert (await list_people(session, actor)).total == 1

    with pytest.raises(ConflictError) as refused:
        await redeem_invite(db, first.code, identity())
    assert refused.value.code is ErrorCode.invite_revoked
    linked = await redeem_invite(db, second.code, identity())
    assert linked.id == first.person.id


async def test_inviting_a_revoked_person_again_enables_them(db: Database, tenant: Tenant) -> None:
    first = await invite(db, tenant, AppRole.head_office_admin, email="back@example.com")
    await console_revoke(db, tenant, first.invite_id)
    assert (await user_row(db, tenant, first.person.id)).status == UserStatus.disabled.value
    second = await invite(db, tenant, AppRole.head_office_admin, email="back@example.com")
    assert second.person.id == first.person.id
    assert second.person.status is UserStatus.active
    assert (await redeem_invite(db, second.code, identity())).id == first.person.id


async def test_an_admin_who_never_linked_can_be_invited_again_in_another_role(
    db: Database, firm: Company
) -> None:
    """The last-admin rule counts admins who can act (linked); an invitee who never linked
    is only an invite, and a linked admin cannot be re-invited at all (their email is taken)."""
    boss = await invite(db, firm.tenant, AppRole.head_office_admin, email="boss@example.com")
    again = await invite(db, firm.tenant, AppRole.operator, ["DHK-01"], email="boss@example.com")
    assert again.person.id == boss.person.id
    assert (await user_row(db, firm.tenant, boss.person.id)).role is AppRole.operator
    await redeem_invite(db, again.code, identity())
    with pytest.raises(ConflictError) as refused:
        await invite(db, firm.tenant, AppRole.head_office_admin, email="boss@example.com")
    assert refused.value.code is ErrorCode.email_taken


# Listing and finding


async def test_list_invites_names_creator_state_and_branches(db: Database, firm: Company) -> None:
    admin = await person(db, firm.tenant, AppRole.head_office_admin, name="Nadia Admin")
    now = datetime.now(UTC)
    async with admin() as (session, actor):
        [dhaka] = await branches_by_code(session, ["DHK-01"])
        by_admin = await create_invite(
            session,
            actor,
            InviteRequest(
                role=AppRole.operator,
                branch_codes=(dhaka.code, firm.chattogram.code),
                full_name="Rahim",
                ttl=timedelta(days=3),
            ),
            now=now,
        )
    from_console = await invite(db, firm.tenant, AppRole.head_office_admin, email="ho@example.com")
    used = await invite(db, firm.tenant, AppRole.head_office_admin, name="Used Person")
    await redeem_invite(db, used.code, identity(username=None, name=None))
    revoked = await invite(db, firm.tenant, AppRole.operator, ["CTG-02"])
    await console_revoke(db, firm.tenant, revoked.invite_id)
    expired = await invite(
        db, firm.tenant, AppRole.operator, ["DHK-01"], ttl=timedelta(hours=1), now=now
    )
    later = now + timedelta(hours=2)

    async with console_unit(db, firm.tenant.id) as (session, actor):
        open_only = await list_invites(session, actor, now=later)
        everything = await list_invites(session, actor, include_closed=True, now=later)

    assert [view.id for view in open_only] == [by_admin.invite_id, from_console.invite_id]
    first, second = open_only
    assert (first.state, first.created_by, first.person, first.branch_codes) == (
        InviteState.open,
        "Nadia Admin",
        "Rahim",
        ("CTG-02", "DHK-01"),
    )
    assert (first.role, first.user_id) == (AppRole.operator, by_admin.person.id)
    assert (second.created_by, second.person, second.email, second.branch_codes) == (
        None,
        "ho@example.com",
        "ho@example.com",
        (),
    )
    assert second.as_json()["state"] == "open"

    states = {view.id: view.state for view in everything}
    assert states == {
        by_admin.invite_id: InviteState.open,
        from_console.invite_id: InviteState.open,
        used.invite_id: InviteState.used,
        revoked.invite_id: InviteState.revoked,
        expired.invite_id: InviteState.expired,
    }
    assert [view.state for view in everything[:2]] == [InviteState.open] * 2
    assert {view.id: view.person for view in everything}[used.invite_id] == "Used Person"
    async with db.tenant_uow(firm.tenant.id) as session:
        creator = await session.scalar(
            select(InviteCode.created_by_user_id).where(InviteCode.id == by_admin.invite_id)
        )
    assert creator == admin.user_id


async def test_closed_invites_are_listed_newest_first(db: Database, tenant: Tenant) -> None:
    made: list[uuid.UUID] = []
    for _ in range(3):
        issued = await invite(db, tenant, AppRole.head_office_admin)
        await console_revoke(db, tenant, issued.invite_id)
        made.append(issued.invite_id)
    async with console_unit(db, tenant.id) as (session, actor):
        listed = await list_invites(session, actor, include_closed=True)
    assert [view.id for view in listed] == made[::-1]


async def test_find_invite_by_id_or_prefix(db: Database, tenant: Tenant) -> None:
    issued = await invite(db, tenant, AppRole.head_office_admin)
    full = str(issued.invite_id)
    async with db.tenant_uow(tenant.id) as session:
        assert await find_invite(session, full) == issued.invite_id
        assert await find_invite(session, full.upper()) == issued.invite_id
        assert await find_invite(session, full.replace("-", "")[:6]) == issued.invite_id
        assert await find_invite(session, f"  {full[:8]} ") == issued.invite_id
        for wrong in (full[:5], "zzzzzzzz", "", str(uuid.uuid4())):
            with pytest.raises(NotFoundError) as refused:
                await find_invite(session, wrong)
            assert refused.value.code is ErrorCode.invite_not_found


# Who may, and for which branches


@pytest.mark.parametrize(
    ("role", "branches", "kind", "code", "message"),
    [
        (
            "BRANCH-MANAGER",
            [],
            ValidationError,
            ErrorCode.branch_needed,
            "The branch manager role needs at least one branch: name its code.",
        ),
        (
            "Head Office Admin",
            ["CTG-02"],
            ValidationError,
            ErrorCode.branch_unwanted,
            "Head office admins act for every branch: leave out the branch.",
        ),
        (
            "operator",
            ["DHK-01", "NOPE-9"],
            NotFoundError,
            ErrorCode.branch_not_found,
            "There is no branch NOPE-9.",
        ),
        (
            "janitor",
            ["DHK-01"],
            ValidationError,
            ErrorCode.value_unknown,
            "Unknown role “janitor”: choose one of head_office_admin, branch_manager, operator.",
        ),
    ],
)
async def test_invite_role_and_branch_rules(
    db: Database,
    firm: Company,
    role: str,
    branches: list[str],
    kind: type[IntrexError],
    code: ErrorCode,
    message: str,
) -> None:
    with pytest.raises(kind) as refused:
        await invite(db, firm.tenant, parse_role(role), branches)
    assert refused.value.code is code
    assert refused.value.message == message
    async with db.tenant_uow(firm.tenant.id) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
        assert await session.scalar(select(func.count()).select_from(InviteCode)) == 0


async def test_operator_without_branch_is_refused(db: Database, firm: Company) -> None:
    with pytest.raises(ValidationError) as refused:
        await invite(db, firm.tenant, parse_role("Operator"), [])
    assert refused.value.code is ErrorCode.branch_needed
    assert refused.value.params == {"role": AppRole.operator}
    assert refused.value.message == "The operator role needs at least one branch: name its code."


async def test_branches_of_nowhere_or_inactive_are_refused(db: Database, firm: Company) -> None:
    async with console_unit(db, firm.tenant.id) as (session, actor):
        with pytest.raises(NotFoundError) as nowhere:
            await create_invite(
                session,
                actor,
                InviteRequest(role=AppRole.operator, branch_codes=("NOPE-9",)),
            )
        assert nowhere.value.code is ErrorCode.branch_not_found
        await set_branch_active(session, actor, "CTG-02", False)
    with pytest.raises(ValidationError) as inactive:
        await invite(db, firm.tenant, AppRole.operator, ["DHK-01", "CTG-02"])
    assert inactive.value.code is ErrorCode.branch_inactive
    assert inactive.value.message == "Branch CTG-02 is deactivated: activate it first."


@pytest.mark.parametrize("role", [AppRole.branch_manager, AppRole.operator])
async def test_only_head_office_creates_lists_and_revokes_invites(
    db: Database, firm: Company, role: AppRole
) -> None:
    issued = await invite(db, firm.tenant, AppRole.operator, ["DHK-01"])
    units: ActorUnits = await person(db, firm.tenant, role, [firm.dhaka])
    request = InviteRequest(role=AppRole.operator, branch_codes=("DHK-01",))
    async with units() as (session, actor):
        for attempt in (
            create_invite(session, actor, request),
            list_invites(session, actor),
            revoke_invite(session, actor, issued.invite_id),
        ):
            with pytest.raises(PermissionDeniedError) as refused:
                await attempt
            assert refused.value.code is ErrorCode.head_office_only
            assert refused.value.message == "Only head office can do this."
    row = await invite_row(db, firm.tenant, issued.invite_id)
    assert row.revoked_at is None


async def test_another_tenants_invite_is_not_found(db: Database, tenant: Tenant) -> None:
    theirs = await invite(db, tenant, AppRole.head_office_admin)
    other = await new_tenant(db)
    async with console_unit(db, other.id) as (session, actor):
        with pytest.raises(NotFoundError) as refused:
            await revoke_invite(session, actor, theirs.invite_id)
        assert refused.value.code is ErrorCode.invite_not_found
        with pytest.raises(NotFoundError):
            await find_invite(session, str(theirs.invite_id))
        assert await list_invites(session, actor, include_closed=True) == []
    assert (await invite_row(db, tenant, theirs.invite_id)).revoked_at is None
