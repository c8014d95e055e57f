"""`intrex connector|route|notify` as an administrator runs them, against real peers."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from core.crypto import generate_key
from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.models import NotificationEvent
from core.tenancy.models import User
from core.tenancy.service import find_branch, resolve_tenant
from tests.companies import person
from tests.environment import INTREX, intrex_env
from tests.peers import SmtpServer, WebhookReceiver


@pytest.fixture
def env(target: DatabaseTarget) -> dict[str, str]:
    return intrex_env(target, secret_key=generate_key(), ALLOW_PRIVATE_TARGETS="true")


async def intrex(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *INTREX,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def last_json(out: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return document


async def test_connector_route_and_test_alert(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    tenant = f"cli-notify-{uuid.uuid4().hex[:6]}"
    assert (await intrex(env, "tenant", "create", tenant))[0] == 0
    assert (
        await intrex(env, "branch", "create", "--tenant", tenant, "--code", "HQ", "--name", "HQ")
    )[0] == 0

    code, out, err = await intrex(
        env,
        "connector",
        "add",
        "--tenant",
        tenant,
        "--type",
        "webhook",
        "--name",
        "ops",
        "--url",
        receiver.url,
        "--json",
    )
    assert code == 0, err
    added = last_json(out)
    secret = added["generated_secret"]
    assert secret
    assert len(secret) >= 32
    assert added["config"]["secret"] == "••••"

    code, out, _ = await intrex(env, "connector", "list", "--tenant", tenant, "--json")
    assert secret not in out
    assert last_json(out)["connectors"][0]["status"] == "active"

    code, out, err = await intrex(
        env,
        "route",
        "add",
        "--tenant",
        tenant,
        "--connector",
        "ops",
        "--event-type",
        "all",
        "--severity-min",
        "medium",
        "--recipient",
        "-",
        "--json",
    )
    assert code == 0, err
    route_id = last_json(out)["id"]

    code, out, err = await intrex(env, "notify", "test", "--tenant", tenant, "--json")
    assert code == 0, err + out
    result = last_json(out)
    assert [d["status"] for d in result["deliveries"]] == ["sent"]
    assert [d["recipient"] for d in result["deliveries"]] == ["webhook 'ops'"]
    assert result["is_test"] is True
    [request] = receiver.requests
    assert json.loads(request.body)["payload"]["test"] is True
    assert json.loads(request.body)["test"] is True

    code, out, _ = await intrex(env, "notify", "test", "--tenant", tenant, "--severity", "low")
    assert code == 1
    assert "No route matches" in out

    code, out, _ = await intrex(env, "route", "list", "--tenant", tenant)
    assert route_id in out
    assert "all ≥ medium from all branches → ops" in out
    assert (await intrex(env, "route", "remove", "--tenant", tenant, route_id))[0] == 0
    code, out, _ = await intrex(env, "route", "list", "--tenant", tenant)
    assert "No routes." in out


async def test_dead_letters_listed_and_retried(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    tenant = f"cli-dead-{uuid.uuid4().hex[:6]}"
    await intrex(env, "tenant", "create", tenant, "--timezone", "Asia/Dhaka")
    await intrex(
        env,
        "connector",
        "add",
        "--tenant",
        tenant,
        "--type",
        "webhook",
        "--name",
        "ops",
        "--url",
        receiver.url,
        "--secret",
        "0123456789abcdef0123",
    )
    await intrex(
        env,
        "route",
        "add",
        "--tenant",
        tenant,
        "--connector",
        "ops",
        "--event-type",
        "all",
        "--severity-min",
        "low",
        "--recipient",
        "-",
    )
    receiver.planned = [410]
    code, out, _ = await intrex(env, "notify", "test", "--tenant", tenant)
    assert code == 1
    assert "dead_letter: HTTP 410" in out

    code, out, _ = await intrex(env, "notify", "dead-letters", "--tenant", tenant, "--json")
    [letter] = last_json(out)["dead_letters"]
    [reason] = letter["reasons"]
    assert reason.startswith("webhook 'ops': HTTP 410: nope (1 attempt, gave up ")
    assert letter["is_test"] is True
    created = datetime.fromisoformat(letter["created_at"])
    local = f"{created.astimezone(ZoneInfo('Asia/Dhaka')):%Y-%m-%d %H:%M}"
    assert letter["created_at_local"] == local != f"{created.astimezone(UTC):%Y-%m-%d %H:%M}"
    [failure] = letter["failures"]
    assert failure["reason"] == "HTTP 410: nope"
    assert failure["recipient"] == "webhook 'ops'"
    ended = datetime.fromisoformat(failure["ended_at"]).astimezone(ZoneInfo("Asia/Dhaka"))
    assert failure["ended_at_local"] == f"{ended:%Y-%m-%d %H:%M}"
    assert f"gave up {failure['ended_at_local']})" in reason

    code, out, _ = await intrex(env, "notify", "dead-letters", "--tenant", tenant)
    assert f"{local} Asia/Dhaka" in out
    assert "[test]" in out
    assert "webhook 'ops': HTTP 410: nope" in out

    code, out, _ = await intrex(
        env, "notify", "dead-letters", "--tenant", tenant, "--retry", "--json"
    )
    assert last_json(out)["requeued"] == 1
    code, out, _ = await intrex(env, "notify", "dead-letters", "--tenant", tenant, "--json")
    assert last_json(out)["dead_letters"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "webhook", "--name", "w", "--url", "ftp://example.com"], "http:// or https://"),
        (
            [
                "--type",
                "webhook",
                "--name",
                "w",
                "--url",
                "https://example.com",
                "--secret",
                "short",
            ],
            "at least 16",
        ),
        (
            ["--type", "email_smtp", "--name", "m", "--host", "smtp.example.com", "--from", "nope"],
            "--from must be an email",
        ),
        (
            [
                "--type",
                "email_smtp",
                "--name",
                "m",
                "--host",
                "h",
                "--from",
                "a@b.co",
                "--username",
                "u",
            ],
            "both --username and --password",
        ),
        (
            [
                "--type",
                "whatsapp_business",
                "--name",
                "wa",
                "--phone-number-id",
                "abc",
                "--access-token",
                "t",
            ],
            "numeric id",
        ),
        (["--type", "carrier_pigeon", "--name", "p"], "carrier_pigeon"),
    ],
)
async def test_bad_connector_input_is_refused_clearly(
    env: dict[str, str], args: list[str], message: str
) -> None:
    tenant = f"cli-bad-{uuid.uuid4().hex[:6]}"
    await intrex(env, "tenant", "create", tenant)
    code, out, err = await intrex(env, "connector", "add", "--tenant", tenant, *args)
    assert code in (1, 2)
    assert message in out + err
    assert "Traceback" not in out + err


async def test_quiet_hours_are_set_per_tenant(env: dict[str, str]) -> None:
    tenant = f"cli-quiet-{uuid.uuid4().hex[:6]}"
    await intrex(env, "tenant", "create", tenant, "--timezone", "Asia/Dhaka")
    code, out, err = await intrex(
        env, "tenant", "set", "--tenant", tenant, "--quiet-hours", "22:00-07:00", "--json"
    )
    assert code == 0, out + err
    assert last_json(out)["quiet_hours"] == "22:00-07:00"
    code, _, err = await intrex(env, "tenant", "set", "--tenant", tenant, "--quiet-hours", "late")
    assert code == 1
    assert "must look like 22:00-07:00" in err


async def test_notify_test_names_people_and_waits_for_delays_unless_now(
    env: dict[str, str], db: Database, receiver: WebhookReceiver, smtp: SmtpServer
) -> None:
    tenant = f"cli-names-{uuid.uuid4().hex[:6]}"
    await intrex(env, "tenant", "create", tenant, "--timezone", "Asia/Dhaka")
    await intrex(env, "branch", "create", "--tenant", tenant, "--code", "DHK-01", "--name", "Dhaka")
    owner = await resolve_tenant(db, tenant)
    karim = await person(
        db,
        owner,
        AppRole.branch_manager,
        [await find_branch(db, owner, "DHK-01")],
        name="Karim Ahmed",
        email="karim@names.example",
        telegram_user_id=int(uuid.uuid4().int % 10**9),
    )
    async with db.tenant_uow(owner.id) as session:
        await session.execute(
            update(User).where(User.id == karim.user_id).values(telegram_username="karim_dhk")
        )
    for args in (
        ["--type", "webhook", "--name", "ops", "--url", receiver.url],
        [
            *("--type", "email_smtp", "--name", "mail", "--host", "127.0.0.1"),
            *("--port", str(smtp.port), "--from", "intrex@names.example"),
        ],
        ["--type", "telegram_bot", "--name", "tg"],
    ):
        code, out, err = await intrex(env, "connector", "add", "--tenant", tenant, *args)
        assert code == 0, out + err
    for connector, recipient, delay in (
        ("ops", "-", "0"),
        ("tg", "karim@names.example", "0"),
        ("mail", "ops@x.example", "15"),
    ):
        code, out, err = await intrex(
            env,
            "route",
            "add",
            "--tenant",
            tenant,
            "--connector",
            connector,
            "--event-type",
            "all",
            "--severity-min",
            "low",
            "--recipient",
            recipient,
            "--delay-minutes",
            delay,
        )
        assert code == 0, out + err

    code, out, err = await intrex(env, "notify", "test", "--tenant", tenant, "--branch", "DHK-01")
    assert code == 0, out + err
    assert "level 1 → webhook 'ops': delivered" in out
    assert (
        "level 1 → Karim Ahmed (@karim_dhk) on Telegram 'tg': "
        "queued for a running worker (Telegram)" in out
    )
    assert "level 2 → ops@x.example by email 'mail': due " in out
    assert "(its route's 15-minute delay)" in out
    assert "Add --now to send every step at once." in out
    assert "user:" not in out
    assert len(receiver.requests) == 1
    assert smtp.mailbox.messages == []

    code, out, err = await intrex(env, "notify", "test", "--tenant", tenant, "--now", "--json")
    assert code == 0, out + err
    result = last_json(out)
    statuses = {d["recipient"]: d["status"] for d in result["deliveries"]}
    assert statuses == {
        "webhook 'ops'": "sent",
        "Karim Ahmed (@karim_dhk) on Telegram 'tg'": "queued",
        "ops@x.example by email 'mail'": "sent",
    }
    assert len(smtp.mailbox.messages) == 1
    async with db.tenant_uow(owner.id) as session:
        tests = list(await session.scalars(select(NotificationEvent.is_test)))
    assert tests == [True, True]


async def test_connector_list_shows_each_connectors_health(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    tenant = f"cli-health-{uuid.uuid4().hex[:6]}"
    await intrex(env, "tenant", "create", tenant, "--timezone", "Asia/Dhaka")
    for name in ("ops", "spare"):
        code, _, err = await intrex(
            env,
            "connector",
            "add",
            "--tenant",
            tenant,
            "--type",
            "webhook",
            "--name",
            name,
            "--url",
            receiver.url,
        )
        assert code == 0, err
    await intrex(
        env,
        "route",
        "add",
        "--tenant",
        tenant,
        "--connector",
        "ops",
        "--event-type",
        "all",
        "--severity-min",
        "low",
        "--recipient",
        "-",
    )
    receiver.planned = [500]
    code, out, _ = await intrex(env, "notify", "test", "--tenant", tenant)
    assert "failed, retried" in out
    code, out, _ = await intrex(env, "notify", "test", "--tenant", tenant)
    assert "delivered" in out

    code, out, err = await intrex(env, "connector", "list", "--tenant", tenant, "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in last_json(out)["connectors"]}
    ops = rows["ops"]
    assert ops["status"] == "active"
    assert ops["last_error"] is None
    health = ops["health"]
    assert (health["deliveries"], health["failures"], health["success_rate"]) == (2, 1, 0.5)
    assert health["status"] == "degraded"
    assert health["window_days"] == 7
    assert health["last_error"] == "HTTP 500: nope"
    assert health["last_success_at"] > health["last_error_at"]
    success = datetime.fromisoformat(health["last_success_at"]).astimezone(ZoneInfo("Asia/Dhaka"))
    assert health["last_success_at_local"] == f"{success:%Y-%m-%d %H:%M} +06"
    assert rows["spare"]["health"] == {
        "status": "idle",
        "window_days": 7,
        "deliveries": 0,
        "failures": 0,
        "success_rate": None,
        "last_success_at": None,
        "last_success_at_local": "",
        "last_error": None,
        "last_error_at": None,
        "last_error_at_local": "",
    }

    code, out, err = await intrex(env, "connector", "list", "--tenant", tenant)
    assert code == 0, err
    [ops_row] = [line for line in out.splitlines() if "│ ops" in line]
    assert "degraded" in ops_row
    assert "50.0%" in ops_row
    assert f"{success:%Y-%m-%d %H:%M}" in out
    assert "ops: last failed delivery" in out
    assert "HTTP 500: nope" in out
