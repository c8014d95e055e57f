"""People from the chat (SPEC §5), fed through the real dispatcher to the strict Bot API
stand-in, asserting on what people see and on the rows.

Disabling from /users locks a person out at their next update and out of the alerts;
moving a manager moves what they see and hear; the last admin stays; revoked and expired
invites are refused; the invite list and /invite take several branches and an email.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.callbacks import (
    InviteButton,
    ObligationButton,
    PeoplePageButton,
    PersonBranchButton,
    PersonButton,
    PersonRoleButton,
)
from core.chat.models import ChatState
from core.db.enums import AppRole
from core.notify.models import NotificationStep
from core.obligations.clock import run_obligation_clock
from core.obligations.models import ObligationDocument
from core.tenancy.models import InviteCode, User, UserBranch
from tests.bot.conftest import BotWorld, Conversation, deliver, member, ssl_alert, telegram_alerts
from tests.companies import PDF, company, invite, obligation


async def user_id_of(world: BotWorld, person: Conversation) -> int:
    async with world.db.system_uow() as session:
        found = await session.scalar(
            select(User.id).where(User.telegram_user_id == person.telegram_id)
        )
    assert found is not None
    return found


async def card(admin: Conversation, user_id: int) -> str:
    """Open a person's card from /users, as an admin does."""
    await admin.send("/users")
    return await admin.press(PersonButton(action="show", id=user_id).pack())


async def test_an_operator_disabled_from_users_is_locked_out_and_hears_nothing_more(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    leaver = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    stayer = await member(world, acme, AppRole.operator, acme.dhaka, "Rina")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=2, proof=False)
    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    from core.notify.routes import add_route

    await add_route(
        world.db,
        acme.tenant,
        connector_name="tg",
        event_type="ssl_failure",
        severity_min="high",
        recipient="role:operator",
    )
    await leaver.send("/obligations")
    old_button = ObligationButton(action="complete", id=fire.hex).pack()
    assert old_button in [data for _, data in leaver.buttons()]
    leaver_id = await user_id_of(world, leaver)

    listing = await admin.send("/users")
    assert "Opu" in listing
    assert "Rina" in listing
    assert "Ayesha" in listing
    shown = await admin.press(PersonButton(action="show", id=leaver_id).pack())
    assert "Role: operator" in shown
    assert "Branches: DHK-01" in shown
    assert await admin.press_labelled("Disable") == "⛔ Disabled."
    assert "Status: disabled" in admin.last_message()["text"]
    assert "Enable" in " ".join(text for text, _ in admin.buttons())

    assert "not linked" in await leaver.send("/obligations")
    assert "not linked" in await leaver.press(old_button)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        assert (await session.get_one(User, leaver_id)).status == "disabled"

    await ssl_alert(world, acme, "ssl_failure:after-disable")
    report = await deliver(world, box)
    assert report.sent == 1
    stayer_id = await user_id_of(world, stayer)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        recipients = set(await session.scalars(select(NotificationStep.recipient_ref)))
    assert {ref for ref in recipients if ref.startswith("user:")} == {f"user:{stayer_id}"}
    assert any("shop.acme.example" in text for text in stayer.everything_said())
    assert not any("shop.acme.example" in text for text in leaver.everything_said())

    await card(admin, leaver_id)
    assert await admin.press_labelled("Enable") == "✅ Enabled."
    assert "Open obligations" in await leaver.send("/obligations")


async def test_someone_disabled_before_their_step_is_due_is_not_sent_to(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    await ssl_alert(world, acme, "ssl_failure:before-disable")
    await card(admin, await user_id_of(world, manager))
    await admin.press_labelled("Disable")

    report = await deliver(world, box)

    assert report.sent == 0
    async with world.db.tenant_uow(acme.tenant.id) as session:
        [step] = await session.scalars(select(NotificationStep))
    assert step.last_error == "nobody to reach: no linked branch_manager in DHK-01"
    assert not any("shop.acme.example" in text for text in manager.everything_said())


async def test_moving_a_manager_moves_their_obligations_alerts_domains_and_reminders(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    await obligation(world.db, acme, acme.dhaka, "Dhaka trade licence", due_in_days=0, proof=False)
    await obligation(world.db, acme, acme.chattogram, "Ctg fire drill", due_in_days=0, proof=False)
    await admin.send("/adddomain dhaka.acme.test DHK-01")
    await admin.send("/adddomain ctg.acme.test CTG-02")
    before = await manager.send("/obligations")
    assert "Dhaka trade licence" in before
    assert "Ctg fire drill" not in before
    assert "dhaka.acme.test" in await manager.send("/domains")

    manager_id = await user_id_of(world, manager)
    await card(admin, manager_id)
    await admin.press_labelled("Change branches")
    assert "✅ DHK-01" in [text for text, _ in admin.buttons()]
    added = await admin.press(
        PersonBranchButton(id=manager_id, branch=acme.chattogram.id.hex).pack()
    )
    assert added == "Added CTG-02."
    removed = await admin.press(PersonBranchButton(id=manager_id, branch=acme.dhaka.id.hex).pack())
    assert removed == "Removed DHK-01."
    assert "▫️ DHK-01" in [text for text, _ in admin.buttons()]

    after = await manager.send("/obligations")
    assert "Ctg fire drill" in after
    assert "Dhaka trade licence" not in after
    domains = await manager.send("/domains")
    assert "ctg.acme.test" in domains
    assert "dhaka.acme.test" not in domains

    box = await telegram_alerts(world, acme, event_type="obligation_due", severity_min="low")
    said = len(manager.everything_said())
    await run_obligation_clock(world.db, now=datetime.now(UTC))
    await deliver(world, box)
    heard = " ".join(manager.everything_said()[said:])
    assert "Ctg fire drill" in heard
    assert "Dhaka trade licence" not in heard
    assert "CTG-02" in await manager.send("/help")


async def test_the_last_admin_can_neither_disable_nor_demote_themselves(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    admin_id = await user_id_of(world, admin)
    await card(admin, admin_id)

    refused = await admin.press_labelled("Disable")
    assert refused == (
        "Ayesha is the last active head office admin: make someone else head office admin first."
    )
    first_branch = await admin.press(
        PersonRoleButton(id=admin_id, role="branch_manager", branch=acme.dhaka.id.hex).pack()
    )
    assert "last active head office admin" in first_branch
    async with world.db.tenant_uow(acme.tenant.id) as session:
        me = await session.get_one(User, admin_id)
    assert (me.role, me.status) == (AppRole.head_office_admin, "active")
    assert "Open obligations" in await admin.send("/obligations")

    second = await member(world, acme, AppRole.head_office_admin, None, "Babul")
    await card(second, admin_id)
    await second.press_labelled("Change role")
    asked = await second.press_labelled("Branch manager")
    assert "The branch manager role acts for branches" in asked
    assert await second.press_labelled("DHK-01") == "Role now: branch manager."
    async with world.db.tenant_uow(acme.tenant.id) as session:
        me = await session.get_one(User, admin_id)
        branches = list(
            await session.scalars(
                select(UserBranch.branch_id).where(UserBranch.user_id == admin_id)
            )
        )
    assert me.role is AppRole.branch_manager
    assert branches == [acme.dhaka.id]


async def test_managers_see_their_branches_people_read_only_and_operators_not_at_all(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    colleague = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    await member(world, acme, AppRole.operator, acme.chattogram, "Chandra")

    listing = await manager.send("/users")
    assert "Opu" in listing
    assert "Mina" in listing
    assert "Chandra" not in listing
    assert "Ayesha" not in listing
    colleague_id = await user_id_of(world, colleague)
    shown = await manager.press(PersonButton(action="show", id=colleague_id).pack())
    assert "Opu" in shown
    labels = [text for text, _ in manager.buttons()]
    assert labels == ["⬅ Back to list"]
    forged = await manager.press(PersonButton(action="disable", id=colleague_id).pack())
    assert forged == "Only head office can do this."

    assert "Only branch managers and head office" in await colleague.send("/users")
    stranger = Conversation(world)
    assert "not linked" in await stranger.send("/users")


async def test_invite_with_branches_and_email_then_list_and_revoke(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")

    issued = await admin.send("/invite Operator DHK-01 ctg-02 nadia@acme.example")
    assert "t.me/" in issued
    assert "<bot>" not in issued
    assert "CTG-02, DHK-01" in issued
    assert "nadia@acme.example" in issued
    listing = await admin.send("/invites")
    assert "nadia@acme.example" in listing
    assert "by Ayesha" in listing
    people = await admin.send("/users")
    assert "⏳" in people
    assert "nadia@acme.example" in people

    async with world.db.tenant_uow(acme.tenant.id) as session:
        invite_id = await session.scalar(select(InviteCode.id).where(InviteCode.used_at.is_(None)))
    assert invite_id is not None
    revoked = await admin.press(InviteButton(action="revoke", id=invite_id.hex).pack())
    assert revoked.startswith("🚫 Invite for nadia@acme.example revoked.")
    assert "No open invites" in admin.last_message()["text"]
    again = await admin.press(InviteButton(action="revoke", id=invite_id.hex).pack())
    assert again == "This invite is revoked already: there is nothing to revoke."

    code = issued.split("start=")[1].split()[0].split("\n")[0]
    newcomer = Conversation(world, name="Nadia")
    assert "withdrawn" in await newcomer.send(f"/start {code}")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        invited = await session.scalar(select(User).where(User.email == "nadia@acme.example"))
    assert invited is not None
    assert (invited.status, invited.telegram_user_id) == ("disabled", None)

    assert "There is no branch NOPE-1." in await admin.send("/invite operator NOPE-1")
    assert "needs at least one branch" in await admin.send("/invite operator")
    assert "Unknown role" in await admin.send("/invite emperor DHK-01")
    assert "Usage:" in await admin.send("/invite operator DHK-01 a@x.example b@x.example")


async def test_revoked_and_expired_invites_are_refused_and_stay_out_of_routes(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    old = await invite(
        world.db,
        acme.tenant,
        AppRole.branch_manager,
        ["DHK-01"],
        ttl=timedelta(days=1),
        now=datetime.now(UTC) - timedelta(days=2),
    )
    expired = await Conversation(world, name="Late").send(f"/start {old.code}")
    assert "expired" in expired

    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    pending = await invite(world.db, acme.tenant, AppRole.branch_manager, ["DHK-01"], name="Sumi")
    await admin.send("/invites")
    await admin.press_labelled("Revoke")
    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    await ssl_alert(world, acme, "ssl_failure:after-revoke")
    await deliver(world, box)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        recipients = set(await session.scalars(select(NotificationStep.recipient_ref)))
    people = {ref for ref in recipients if ref.startswith("user:")}
    assert people == {f"user:{await user_id_of(world, manager)}"}
    assert f"user:{pending.person.id}" not in people
    assert "withdrawn" in await Conversation(world, name="Sumi").send(f"/start {pending.code}")


async def test_the_telegram_name_and_username_are_refreshed_and_shown(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    issued = await invite(world.db, acme.tenant, AppRole.operator, ["DHK-01"])
    karim = Conversation(world, name="Karim")
    await karim.send(f"/start {issued.code}")
    karim.name = "Karim Ahmed"
    karim_id = await user_id_of(world, karim)
    async with world.db.system_uow() as session:
        await session.execute(
            update(User)
            .where(User.id == karim_id)
            .values(last_seen_at=datetime.now(UTC) - timedelta(hours=1))
        )
    await karim.feed(
        {
            "message": {
                "message_id": 99,
                "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": karim.telegram_id, "type": "private"},
                "from": {
                    "id": karim.telegram_id,
                    "is_bot": False,
                    "first_name": "Karim",
                    "last_name": "Ahmed",
                    "username": "karim_dhk",
                },
                "text": "/help",
            }
        }
    )
    listing = await admin.send("/users")
    assert "Karim Ahmed (@karim_dhk)" in listing
    async with world.db.tenant_uow(acme.tenant.id) as session:
        row = await session.get_one(User, karim_id)
    assert (row.telegram_name, row.telegram_username) == ("Karim Ahmed", "karim_dhk")
    assert row.last_seen_at is not None
    assert row.last_seen_at > datetime.now(UTC) - timedelta(minutes=1)


async def test_people_pages_and_forged_buttons(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    for number in range(10):
        await invite(world.db, acme.tenant, AppRole.operator, ["DHK-01"], name=f"Staff {number}")
    first = await admin.send("/users")
    assert "(page 1 of 2, 11 in all)" in first
    second = await admin.press(PeoplePageButton(page=1).pack())
    assert "(page 2 of 2, 11 in all)" in second
    assert await admin.press("us:show:99999999999999:0") == "This button is no longer valid."
    other = await company(world.db)
    outsider = await invite(world.db, other.tenant, AppRole.operator, ["DHK-01"], name="Elsewhere")
    assert "No such person" in await admin.press(
        PersonButton(action="show", id=outsider.person.id).pack()
    )
    assert "No such person" in await admin.press(
        PersonButton(action="disable", id=outsider.person.id).pack()
    )


async def test_disabling_clears_the_conversation_and_start_says_the_account_is_inactive(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    operator = await member(world, acme, AppRole.operator, acme.dhaka, "Opu")
    fire = await obligation(world.db, acme, acme.dhaka, "Fire drill", due_in_days=3, proof=True)
    assert "Send the proof" in await operator.press(
        ObligationButton(action="proof", id=fire.hex).pack()
    )
    async with world.db.system_uow() as session:
        waiting = await session.scalar(
            select(ChatState.state).where(ChatState.key.contains(f":{operator.telegram_id}:"))
        )
    assert waiting is not None
    operator_id = await user_id_of(world, operator)
    await card(admin, operator_id)
    await admin.press_labelled("Disable")

    assert "not linked" in await operator.send_document(PDF, "proof.pdf")
    async with world.db.system_uow() as session:
        states = list(
            await session.scalars(
                select(ChatState.state).where(
                    ChatState.key.contains(f":{operator.telegram_id}:"),
                    ChatState.state.is_not(None),
                )
            )
        )
    assert states == []
    fresh = await invite(world.db, acme.tenant, AppRole.operator, ["DHK-01"])
    assert "Your account is not active" in await operator.send(f"/start {fresh.code}")

    await card(admin, operator_id)
    await admin.press_labelled("Enable")
    offered = await operator.send_document(PDF, "proof.pdf")
    assert "Which obligation is this file proof for?" in offered
    async with world.db.tenant_uow(acme.tenant.id) as session:
        documents = list(await session.scalars(select(ObligationDocument)))
    assert documents == []
