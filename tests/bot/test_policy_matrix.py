"""The policy matrix: every action × every role × in scope / out of scope / other tenant /
disabled user / closed row, asking core (does the service allow it?) and the bot (is the
button there?). The two must agree with the table below, and with each other.

Core is asked inside a transaction that is rolled back, so one matrix cell never changes
the rows another cell sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import AlertButton, ObligationButton
from core.db.enums import AppRole, NotificationEventType, NotificationStatus, Severity
from core.errors import IntrexError
from core.notify.ack import acknowledge
from core.notify.events import emit_event
from core.notify.models import NotificationEvent
from core.obligations.actions import complete_obligation, reopen_obligation, waive_obligation
from core.obligations.documents import UploadLimits, accept_proof
from core.obligations.queries import obligation_details
from core.ssl.models import Domain
from core.ssl.service import find_checkable, remove_domain
from core.tenancy import policy as tenancy_policy
from core.tenancy.models import User
from core.tenancy.scope import Actor, ActorUnits
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import Company, company, obligation

ROLES = (AppRole.head_office_admin, AppRole.branch_manager, AppRole.operator)
SITUATIONS = ("in_scope", "out_of_scope", "other_tenant", "disabled", "closed")
ADMIN, MANAGER, OPERATOR = ROLES

EXPECTED: dict[str, dict[str, set[AppRole]]] = {
    "view": {
        "in_scope": set(ROLES),
        "out_of_scope": {ADMIN},
        "closed": set(ROLES),
    },
    "complete": {"in_scope": set(ROLES), "out_of_scope": {ADMIN}},
    "upload_proof": {"in_scope": set(ROLES), "out_of_scope": {ADMIN}},
    "waive": {"in_scope": {ADMIN, MANAGER}, "out_of_scope": {ADMIN}},
    "reopen": {"closed": {ADMIN, MANAGER}},
    "acknowledge": {"in_scope": set(ROLES), "out_of_scope": {ADMIN}},
    "check_domain": {
        "in_scope": {ADMIN, MANAGER},
        "out_of_scope": {ADMIN},
        "other_tenant": {ADMIN},
        "closed": {ADMIN},
    },
    "remove_domain": {"in_scope": {ADMIN}, "out_of_scope": {ADMIN}, "closed": set()},
    "invite": {
        "in_scope": {ADMIN},
        "out_of_scope": {ADMIN},
        "other_tenant": {ADMIN},
        "closed": {ADMIN},
    },
}
"""Who may, per action and situation; a situation not listed allows nobody. Head office may
check any host: another tenant's domain or a removed one is, for it, a host Intrex does not
monitor (checked and answered, nothing stored); invites have no row, only the disabled cell
refuses them."""

BUTTON_OF = {"complete": "complete", "upload_proof": "proof", "waive": "waive", "reopen": "reopen"}


class RolledBack(Exception):
    """Raised after an allowed action so that its transaction is undone."""


@dataclass
class Rows:
    """The rows of each situation for one action family."""

    in_scope: uuid.UUID
    out_of_scope: uuid.UUID
    other_tenant: uuid.UUID
    closed: uuid.UUID


@dataclass
class Matrix:
    world: BotWorld
    acme: Company
    people: dict[AppRole, Conversation]
    disabled: dict[AppRole, Conversation]
    units: dict[tuple[AppRole, bool], ActorUnits]
    obligations: Rows
    alerts: Rows
    domains: dict[str, str]


async def _user_id(world: BotWorld, tenant_id: uuid.UUID, telegram_id: int) -> int:
    from sqlalchemy import select

    async with world.db.tenant_uow(tenant_id) as session:
        found = await session.scalar(select(User.id).where(User.telegram_user_id == telegram_id))
    assert found is not None
    return found


async def _event(
    world: BotWorld, who: Company, branch_id: uuid.UUID, status: NotificationStatus | None = None
) -> uuid.UUID:
    async with world.db.tenant_uow(who.tenant.id) as session:
        event = await emit_event(
            session,
            tenant_id=who.tenant.id,
            event_type=NotificationEventType.obligation_overdue,
            severity=Severity.high,
            fingerprint=f"matrix:{uuid.uuid4()}",
            payload={"title": "Trade licence", "branch_code": "X"},
            branch_id=branch_id,
        )
        assert event is not None
        if status is not None:
            await session.execute(
                update(NotificationEvent)
                .where(NotificationEvent.id == event.id)
                .values(status=status)
            )
        return event.id


async def _domain(world: BotWorld, who: Company, branch_id: uuid.UUID, host: str) -> str:
    async with world.db.tenant_uow(who.tenant.id) as session:
        session.add(Domain(tenant_id=who.tenant.id, branch_id=branch_id, hostname=host, port=443))
    return host


@pytest.fixture
async def matrix(world: BotWorld) -> Matrix:
    acme = await company(world.db, "Acme")
    rival = await company(world.db, "Rival")
    people: dict[AppRole, Conversation] = {}
    disabled: dict[AppRole, Conversation] = {}
    units: dict[tuple[AppRole, bool], ActorUnits] = {}
    for role in ROLES:
        branch = None if role is ADMIN else acme.dhaka
        people[role] = await member(
            world, acme, role, branch, f"Active{role.name.replace('_', '')}"
        )
        disabled[role] = await member(
            world, acme, role, branch, f"Gone{role.name.replace('_', '')}"
        )
        for gone, person in ((False, people[role]), (True, disabled[role])):
            user_id = await _user_id(world, acme.tenant.id, person.telegram_id)
            units[(role, gone)] = ActorUnits(world.db, acme.tenant.id, user_id)
    async with world.db.tenant_uow(acme.tenant.id) as session:
        await session.execute(
            update(User).where(User.full_name.startswith("Gone")).values(status="disabled")
        )
    closed = await obligation(
        world.db, acme, acme.dhaka, "Done already", due_in_days=1, proof=False
    )
    async with units[(ADMIN, False)]() as (session, actor):
        await complete_obligation(session, actor, closed)
    rows = Rows(
        in_scope=await obligation(world.db, acme, acme.dhaka, "Ours", due_in_days=2, proof=False),
        out_of_scope=await obligation(
            world.db, acme, acme.chattogram, "Theirs", due_in_days=2, proof=False
        ),
        other_tenant=await obligation(
            world.db, rival, rival.dhaka, "Rival's", due_in_days=2, proof=False
        ),
        closed=closed,
    )
    alerts = Rows(
        in_scope=await _event(world, acme, acme.dhaka.id),
        out_of_scope=await _event(world, acme, acme.chattogram.id),
        other_tenant=await _event(world, rival, rival.dhaka.id),
        closed=await _event(world, acme, acme.dhaka.id, NotificationStatus.cancelled),
    )
    domains = {
        "in_scope": await _domain(world, acme, acme.dhaka.id, "ours.intrex.test"),
        "out_of_scope": await _domain(world, acme, acme.chattogram.id, "theirs.intrex.test"),
        "other_tenant": await _domain(world, rival, rival.dhaka.id, "rival.intrex.test"),
        "closed": "gone.intrex.test",
    }
    return Matrix(world, acme, people, disabled, units, rows, alerts, domains)


Attempt = Callable[[AsyncSession, Actor], Awaitable[object]]


def attempts(matrix: Matrix, action: str, situation: str) -> Attempt:
    key = "in_scope" if situation == "disabled" else situation
    instance = getattr(matrix.obligations, key)
    event = getattr(matrix.alerts, key)
    host = matrix.domains[key]
    limits = UploadLimits(max_bytes=1024, files_per_day=10, bytes_per_day=10_000)

    async def invite(_session: AsyncSession, actor: Actor) -> object:
        if not tenancy_policy.can_invite(actor):
            raise PermissionError
        return None

    table: dict[str, Attempt] = {
        "view": lambda session, actor: obligation_details(session, actor, instance),
        "complete": lambda session, actor: complete_obligation(session, actor, instance),
        "upload_proof": lambda session, actor: accept_proof(session, actor, instance, 10, limits),
        "waive": lambda session, actor: waive_obligation(session, actor, instance, "reason"),
        "reopen": lambda session, actor: reopen_obligation(session, actor, instance),
        "acknowledge": lambda session, actor: acknowledge(session, actor, event),
        "check_domain": lambda session, actor: find_checkable(session, actor, host),
        "remove_domain": lambda session, actor: remove_domain(session, actor, host),
        "invite": invite,
    }
    return table[action]


async def core_allows(matrix: Matrix, role: AppRole, action: str, situation: str) -> bool:
    units = matrix.units[(role, situation == "disabled")]
    attempt = attempts(matrix, action, situation)
    try:
        async with units() as (session, actor):
            await attempt(session, actor)
            raise RolledBack
    except RolledBack:
        return True
    except (IntrexError, PermissionError):
        return False


def allowed(action: str, situation: str, role: AppRole) -> bool:
    return role in EXPECTED[action].get(situation, set())


@pytest.mark.parametrize("action", list(EXPECTED))
async def test_core_allows_exactly_the_table(matrix: Matrix, action: str) -> None:
    wrong = [
        (role.value, situation, "allowed" if not allowed(action, situation, role) else "refused")
        for role in ROLES
        for situation in SITUATIONS
        if await core_allows(matrix, role, action, situation) != allowed(action, situation, role)
    ]
    assert not wrong, f"{action}: core disagrees with the table: {wrong}"


async def _detail_buttons(matrix: Matrix, person: Conversation, instance: uuid.UUID) -> set[str]:
    """The obligation buttons Details shows this person (none when Details is refused)."""
    calls = matrix.world.stub.calls
    before = len(calls)
    await person.press(ObligationButton(action="details", id=instance.hex).pack())
    shown = [
        call.params
        for call in calls[before:]
        if call.method in ("sendMessage", "editMessageText")
        and int(call.params.get("chat_id", 0)) == person.telegram_id
    ]
    if not shown:
        return set()
    rows = (shown[-1].get("reply_markup") or {}).get("inline_keyboard", [])
    return {
        ObligationButton.unpack(button["callback_data"]).action
        for row in rows
        for button in row
        if button["callback_data"].startswith("ob:") and instance.hex in button["callback_data"]
    }


@pytest.mark.parametrize("situation", SITUATIONS)
async def test_the_bot_shows_exactly_the_buttons_core_allows(
    matrix: Matrix, situation: str
) -> None:
    key = "in_scope" if situation == "disabled" else situation
    instance = getattr(matrix.obligations, key)
    for role in ROLES:
        person = (matrix.disabled if situation == "disabled" else matrix.people)[role]
        shown = await _detail_buttons(matrix, person, instance)
        expected = {
            button
            for action, button in BUTTON_OF.items()
            if await core_allows(matrix, role, action, situation)
        }
        assert shown == expected, (role.value, situation, shown, expected)


async def test_alerts_list_offers_acknowledge_exactly_where_core_allows(matrix: Matrix) -> None:
    for role in ROLES:
        for situation in SITUATIONS:
            person = (matrix.disabled if situation == "disabled" else matrix.people)[role]
            key = "in_scope" if situation == "disabled" else situation
            event = getattr(matrix.alerts, key)
            await person.send("/alerts")
            offered = (
                any(
                    AlertButton.unpack(data).id == event.hex
                    for _, data in person.buttons()
                    if data.startswith("al:")
                )
                if person.messages()
                else False
            )
            assert offered == await core_allows(matrix, role, "acknowledge", situation), (
                role.value,
                situation,
            )
