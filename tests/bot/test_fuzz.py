"""Every command fed random and hostile text: the bot never raises and always answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.db.enums import AppRole
from tests.bot.conftest import BotWorld, Conversation, member
from tests.companies import company
from tests.telegram_stub import parse_html, utf16_length

COMMANDS = [
    "/start",
    "/help",
    "/obligations",
    "/alerts",
    "/domains",
    "/adddomain",
    "/removedomain",
    "/check",
    "/invite",
    "/digest",
]
HOSTILE = st.sampled_from(
    [
        "<b>bold</b>",
        "</code><script>",
        "a" * 5000,
        "../../etc/passwd",
        "'; DROP TABLE users; --",
        "\u202e\u0000\ufeff",
        "999999999999999999999999:99999999",
        "xn--",
        "-..-",
        "[::1]:443",
        "127.0.0.1",
        "%00",
        "operator NOPE-1 extra",
    ]
)
ARGS = st.one_of(HOSTILE, st.text(min_size=0, max_size=200))


def generated_cases(count: int) -> list[tuple[str, str]]:
    """Commands with hypothesis-generated arguments (drawn up front: the bot runs on the
    test's event loop, which hypothesis cannot drive itself)."""
    cases: list[tuple[str, str]] = []

    @settings(max_examples=count, database=None, deadline=None)
    @given(command=st.sampled_from(COMMANDS), args=ARGS)
    def collect(command: str, args: str) -> None:
        cases.append((command, args))

    collect()
    return cases


@pytest.mark.parametrize("role", [AppRole.head_office_admin, AppRole.operator, None])
async def test_commands_survive_any_arguments(world: BotWorld, role: AppRole | None) -> None:
    acme = await company(world.db, f"Fuzz {role}")
    person = (
        await member(world, acme, role, acme.dhaka if role is AppRole.operator else None, "Fuzzy")
        if role is not None
        else Conversation(world)
    )
    for command, args in generated_cases(60):
        before = len(world.stub.calls)
        await person.send(f"{command} {args}".strip())
        answered = [
            call
            for call in world.stub.calls[before:]
            if call.method == "sendMessage" and int(call.params["chat_id"]) == person.telegram_id
        ]
        assert answered, f"no answer to {command} {args!r}"
        visible = [parse_html(str(call.params["text"])).text for call in answered]
        assert all(utf16_length(text.strip()) <= 4096 for text in visible), (command, args)
