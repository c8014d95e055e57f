"""`intrex connector|route|notify` as an administrator runs them, against real peers."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from core.crypto import generate_key
from core.db.target import DatabaseTarget
from tests.environment import INTREX, intrex_env
from tests.peers import WebhookReceiver


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
    [request] = receiver.requests
    assert json.loads(request.body)["payload"]["test"] is True

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
    await intrex(env, "tenant", "create", tenant)
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
    assert letter["reasons"] == ["ops → -: HTTP 410: nope (after 1 attempt(s))"]

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
