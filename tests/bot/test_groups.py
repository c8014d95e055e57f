"""A Telegram group linked to a branch (SPEC §3, §4): it receives the branch's alerts, a
linked member of the branch acknowledges there, anyone else is refused; only group
commands and the Acknowledge button work in a group; the bot's removal ends the link."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.callbacks import AlertButton
from core.audit.models import ActivityLog
from core.db.enums import AppRole
from core.notify.models import BranchGroup
from core.notify.routes import add_route
from tests.bot.conftest import BotWorld, Conversation, deliver, member, ssl_alert, telegram_alerts
from tests.companies import company

_groups = itertools.count(-100_900_000_000, -1)


@dataclass
class InGroup(Conversation):
    """The same person, talking in a group chat."""

    group_id: int = field(default_factory=lambda: next(_groups))

    def _chat(self) -> dict[str, Any]:
        return {"id": self.group_id, "type": "supergroup", "title": "Dhaka staff"}

    def messages(self) -> list[dict[str, Any]]:
        return [m for (chat, _), m in self.world.stub.messages.items() if chat == self.group_id]

    def last_reply(self, since: int = 0) -> str:
        for call in reversed(self.world.stub.calls[since:]):
            params = call.params
            if (
                call.method in ("sendMessage", "editMessageText")
                and int(params.get("chat_id", 0)) == self.group_id
            ):
                return str(params.get("text", ""))
            if call.method == "answerCallbackQuery" and params.get("text"):
                return str(params["text"])
        return ""


def in_group(person: Conversation, group_id: int) -> InGroup:
    return InGroup(
        person.world, person.telegram_id, person.name, person.language_code, group_id=group_id
    )


async def test_a_linked_group_gets_the_branch_alerts_and_its_members_acknowledge(
    world: BotWorld,
) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    manager = await member(world, acme, AppRole.branch_manager, acme.dhaka, "Mina")
    elsewhere = await member(world, acme, AppRole.branch_manager, acme.chattogram, "Chandra")
    group_id = next(_groups)
    admin_there = in_group(admin, group_id)

    assert "Send /linkgroup" in await admin.send("/linkgroup DHK-01")
    linked = await admin_there.send("/linkgroup dhk-01")
    assert "This group gets the alerts of DHK-01" in linked
    assert "private chat" in await admin_there.send("/obligations")

    box = await telegram_alerts(world, acme, event_type="ssl_failure", severity_min="high")
    await add_route(
        world.db,
        acme.tenant,
        connector_name="tg",
        event_type="ssl_failure",
        severity_min="high",
        recipient="group:DHK-01",
    )
    event = await ssl_alert(world, acme, "ssl_failure:shop:group")
    assert (await deliver(world, box)).sent == 2
    [posted] = [m for m in admin_there.messages() if "shop.acme.example" in m.get("text", "")]
    ack = AlertButton(action="ack", id=event.id.hex).pack()
    assert ack in [data for _, data in admin_there.buttons(posted)]

    stranger = in_group(Conversation(world, name="Visitor"), group_id)
    assert "not linked" in await stranger.press(ack, posted)
    outsider = in_group(elsewhere, group_id)
    assert "not yours to acknowledge" in await outsider.press(ack, posted)
    manager_there = in_group(manager, group_id)
    assert await manager_there.press(ack, posted) == "Acknowledged"
    edited = next(m for m in admin_there.messages() if m["message_id"] == posted["message_id"])
    assert "✅ Acknowledged by Mina on" in edited["text"]
    await deliver(world, box)
    copy = next(m for m in manager.messages() if "shop.acme.example" in m.get("text", ""))
    assert "✅ Acknowledged by Mina on" in copy["text"]

    assert "no longer gets the alerts of DHK-01" in await admin_there.send("/unlinkgroup")
    async with world.db.tenant_uow(acme.tenant.id) as session:
        statuses = list(await session.scalars(select(BranchGroup.status)))
        actions = list(
            await session.scalars(
                select(ActivityLog.action).where(ActivityLog.entity_type == "branch_group")
            )
        )
    assert statuses == ["removed"]
    assert actions == ["group.link", "group.unlink"]


async def test_removing_the_bot_from_the_group_ends_its_link(world: BotWorld) -> None:
    acme = await company(world.db, "Acme")
    admin = await member(world, acme, AppRole.head_office_admin, None, "Ayesha")
    group_id = next(_groups)
    await in_group(admin, group_id).send("/linkgroup DHK-01")
    bot_user = {"id": 1, "is_bot": True, "first_name": "Intrex"}

    await admin.feed(
        {
            "my_chat_member": {
                "chat": {"id": group_id, "type": "supergroup", "title": "Dhaka staff"},
                "from": {"id": admin.telegram_id, "is_bot": False, "first_name": "Ayesha"},
                "date": int(time.time()),
                "old_chat_member": {"status": "member", "user": bot_user},
                "new_chat_member": {"status": "kicked", "user": bot_user, "until_date": 0},
            }
        }
    )

    async with world.db.tenant_uow(acme.tenant.id) as session:
        [group] = await session.scalars(select(BranchGroup))
    assert group.status == "removed"
    assert group.removed_at is not None
