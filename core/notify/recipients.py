"""Who a route's recipient is, decided when each step is due (SPEC §4).

A Telegram route names people by reference: `role:ROLE` (everyone of that role in scope of
the event's branch), a user's email, `owner` (the obligation's owner), or `group:CODE` (the
Telegram groups linked to that branch). Its step keeps the reference; when the step is
due, the dispatcher resolves it to the people as they are then (`user:<id>`, or `chat:<id>`
for a group) and each becomes a step of its own, so someone who links, joins the branch or
is re-enabled before then gets it, and someone disabled does not. A reference that reaches
nobody waits, retried, until its escalation window ends, and only then dead-letters, with
the reason in words ("nobody to reach: no linked branch_manager in DHK-02").

When a person links, is re-enabled or gets a branch later, `catch_up` gives them the
alerts of their scope that are still open, at most a week old, that a reference already
resolved would have reached them with: each once.

The dispatcher resolves on the system path, so every statement here names its tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import (
    CLOSED_ALERT,
    AppRole,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
    UserStatus,
)
from core.notify.models import BranchGroup, NotificationEvent, NotificationStep
from core.obligations.models import ObligationInstance
from core.tenancy.models import Branch, User, UserBranch

ROLE_PREFIX = "role:"
USER_PREFIX = "user:"
CHAT_PREFIX = "chat:"
GROUP_PREFIX = "group:"
OWNER = "owner"
RESOLVED = "resolved when due"
NOBODY = "nobody to reach"
"""The `last_error` of a reference step that became its people's steps (status cancelled)."""
NOBODY_RETRY = timedelta(minutes=1)
"""How often a reference that reaches nobody looks again within its window."""
NOBODY_WAIT = timedelta(hours=1)
"""On the last escalation level, how long a reference that reaches nobody keeps looking."""
CATCH_UP_WINDOW = timedelta(days=7)
"""A person who links late gets the open alerts of their scope younger than this."""


def is_reference(connector_type: ConnectorType, recipient_ref: str) -> bool:
    """Whether a step names people to find when it is due (not one chat, address or URL)."""
    if connector_type is not ConnectorType.telegram_bot:
        return False
    return not recipient_ref.startswith((USER_PREFIX, CHAT_PREFIX))


@dataclass(frozen=True)
class Resolution:
    recipients: list[str]
    """`user:<id>` and `chat:<id>`, in a stable order."""
    nobody: str | None = None
    """When nobody was found: why, in words for the dead-letter list."""


async def _branch_code(session: AsyncSession, event: NotificationEvent) -> str | None:
    if event.branch_id is None:
        return None
    return await session.scalar(
        select(Branch.code).where(Branch.tenant_id == event.tenant_id, Branch.id == event.branch_id)
    )


def _reachable(tenant_id: uuid.UUID) -> Any:
    return and_(
        User.tenant_id == tenant_id,
        User.status == UserStatus.active.value,
        User.telegram_user_id.is_not(None),
    )


async def _users(session: AsyncSession, query: Any) -> list[str]:
    return [f"{USER_PREFIX}{user_id}" for user_id in await session.scalars(query.order_by(User.id))]


async def resolve(session: AsyncSession, event: NotificationEvent, reference: str) -> Resolution:
    """The people (and groups) `reference` names for `event` now."""
    tenant_id = event.tenant_id
    where = await _branch_code(session, event)
    place = where or "head office"
    if reference.startswith(ROLE_PREFIX):
        role = AppRole(reference.removeprefix(ROLE_PREFIX))
        query = select(User.id).where(_reachable(tenant_id))
        if role.head_office or event.branch_id is None:
            # What belongs to no branch is head office's: its role routes reach the admins.
            query = query.where(User.role == AppRole.head_office_admin)
        else:
            query = query.where(
                User.role == role,
                User.id.in_(
                    select(UserBranch.user_id).where(
                        UserBranch.tenant_id == tenant_id, UserBranch.branch_id == event.branch_id
                    )
                ),
            )
        found = await _users(session, query)
        who = AppRole.head_office_admin if event.branch_id is None else role
        return Resolution(found, None if found else f"{NOBODY}: no linked {who} in {place}")
    if reference == OWNER:
        instance = event.payload_json.get("obligation_instance_id")
        owner = (
            await session.scalar(
                select(ObligationInstance.owner_user_id).where(
                    ObligationInstance.tenant_id == tenant_id,
                    ObligationInstance.id == uuid.UUID(str(instance)),
                )
            )
            if instance
            else None
        )
        if owner is None:
            return Resolution([], f"{NOBODY}: the obligation in {place} has no owner")
        found = await _users(
            session, select(User.id).where(_reachable(tenant_id), User.id == owner)
        )
        return Resolution(
            found, None if found else f"{NOBODY}: the owner is not linked or is disabled"
        )
    if reference.startswith(GROUP_PREFIX):
        code = reference.removeprefix(GROUP_PREFIX).upper()
        chats = list(
            await session.scalars(
                select(BranchGroup.chat_id)
                .join(Branch, Branch.id == BranchGroup.branch_id)
                .where(
                    BranchGroup.tenant_id == tenant_id,
                    BranchGroup.status == "active",
                    Branch.code == code,
                )
                .order_by(BranchGroup.chat_id)
            )
        )
        found = [f"{CHAT_PREFIX}{chat}" for chat in chats]
        return Resolution(found, None if found else f"{NOBODY}: no Telegram group linked to {code}")
    email = reference.strip().lower()
    found = await _users(
        session, select(User.id).where(_reachable(tenant_id), func.lower(User.email) == email)
    )
    return Resolution(found, None if found else f"{NOBODY}: {email} is not a linked, active user")


async def lock_event(session: AsyncSession, event_id: uuid.UUID) -> None:
    """Serialise the resolutions of one event (two references may name the same person)."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"steps:{event_id}", 0)))
    )


async def add_person_steps(
    session: AsyncSession, reference_step: NotificationStep, recipients: list[str], now: datetime
) -> int:
    """A step per recipient the event has no step for yet on that connector; how many."""
    if not recipients:
        return 0
    existing = set(
        await session.scalars(
            select(NotificationStep.recipient_ref).where(
                NotificationStep.tenant_id == reference_step.tenant_id,
                NotificationStep.notification_event_id == reference_step.notification_event_id,
                NotificationStep.connector_id == reference_step.connector_id,
                NotificationStep.recipient_ref.in_(recipients),
            )
        )
    )
    fresh = [recipient for recipient in recipients if recipient not in existing]
    if fresh:
        await session.execute(
            insert(NotificationStep),
            [
                {
                    "tenant_id": reference_step.tenant_id,
                    "notification_event_id": reference_step.notification_event_id,
                    "route_id": reference_step.route_id,
                    "connector_id": reference_step.connector_id,
                    "recipient_ref": recipient,
                    "level": reference_step.level,
                    "next_attempt_at": now,
                }
                for recipient in fresh
            ],
        )
    return len(fresh)


async def catch_up(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: int, *, now: datetime | None = None
) -> int:
    """Give a person who just became reachable the still-open alerts of their scope: those
    whose references, already resolved, name them now; and references still waiting for
    somebody look again at once. Returns how many steps were added.

    Runs in the caller's transaction (a link, an enable, a branch change).
    """
    moment = utc_now(now)
    resolved = await session.execute(
        select(NotificationStep, NotificationEvent)
        .join(NotificationEvent, NotificationEvent.id == NotificationStep.notification_event_id)
        .where(
            NotificationStep.tenant_id == tenant_id,
            NotificationStep.last_error == RESOLVED,
            NotificationEvent.status.not_in(CLOSED_ALERT),
            NotificationEvent.is_test.is_(False),
            NotificationEvent.event_type != NotificationEventType.digest,
            NotificationEvent.created_at > moment - CATCH_UP_WINDOW,
        )
        .order_by(NotificationEvent.created_at)
    )
    await session.execute(
        update(NotificationStep)
        .where(
            NotificationStep.tenant_id == tenant_id,
            NotificationStep.status == NotificationStatus.queued,
            NotificationStep.last_error.startswith(NOBODY),
            NotificationStep.next_attempt_at > moment,
        )
        .values(next_attempt_at=moment)
    )
    me = f"{USER_PREFIX}{user_id}"
    added = 0
    for step, event in resolved:
        if me not in (await resolve(session, event, step.recipient_ref)).recipients:
            continue
        await lock_event(session, event.id)
        added += await add_person_steps(session, step, [me], moment)
    return added


def window_end(
    event: NotificationEvent, delay_minutes: int, later_levels: list[datetime], wait: timedelta
) -> datetime:
    """Until when a reference that reaches nobody keeps trying: the next escalation level's
    time, or, on the last level, `wait` after the step fell due."""
    if later_levels:
        return min(later_levels)
    return event.scheduled_for + timedelta(minutes=delay_minutes) + wait
