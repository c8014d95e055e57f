"""The `intrex` command as a user runs it: real processes, real database, exit codes, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.crypto import generate_key
from core.db.target import DatabaseTarget
from tests.environment import INTREX, intrex_env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INTREX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


@pytest.fixture
def server_env(target: DatabaseTarget) -> dict[str, str]:
    return intrex_env(
        target,
        secret_key=generate_key(),
        DATABASE_ADMIN_URL=target.admin_url.render_as_string(hide_password=False),
    )


def test_full_admin_flow_with_json(server_env: dict[str, str], tmp_path: Path) -> None:
    migrated = run(["migrate", "--json"], server_env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert as_json(migrated)["ok"] is True

    name = f"cli-{os.getpid()}"
    created = run(
        ["tenant", "create", name, "--timezone", "Asia/Dhaka", "--json"], server_env, tmp_path
    )
    assert created.returncode == 0, created.stderr
    tenant = as_json(created)
    assert (tenant["name"], tenant["timezone"]) == (name, "Asia/Dhaka")

    branch = run(
        [
            "branch",
            "create",
            "--tenant",
            tenant["id"],
            "--code",
            "dhk-01",
            "--name",
            "Dhaka HQ",
            "--district",
            "Dhaka",
            "--json",
        ],
        server_env,
        tmp_path,
    )
    assert branch.returncode == 0, branch.stderr
    assert as_json(branch)["code"] == "DHK-01"

    invite = run(
        [
            "invite",
            "create",
            "--tenant",
            name,
            "--role",
            "operator",
            "--branch",
            "DHK-01",
            "--json",
        ],
        server_env | {"BOT_USERNAME": "intrex_bot"},
        tmp_path,
    )
    assert invite.returncode == 0, invite.stderr
    issued = as_json(invite)
    assert issued["deep_link"] == f"https://t.me/intrex_bot?start={issued['code']}"
    assert issued["branch"] == "DHK-01"

    listed = run(["branch", "list", "--tenant", name, "--json"], server_env, tmp_path)
    assert [b["code"] for b in as_json(listed)["branches"]] == ["DHK-01"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenant", "create", "Dup"], "A tenant named “Dup” already exists."),
        (
            ["tenant", "create", "Z", "--timezone", "Mars/Olympus"],
            "“Mars/Olympus” is not a known time zone",
        ),
        (
            ["branch", "create", "--tenant", "Nobody", "--code", "A1", "--name", "A"],
            "No tenant “Nobody”.",
        ),
        (
            ["branch", "create", "--tenant", "Dup", "--code", "HQ", "--name", "Again"],
            "already exists",
        ),
        (
            ["branch", "create", "--tenant", "Dup", "--code", "no spaces", "--name", "A"],
            "is not a branch code",
        ),
        (["invite", "create", "--tenant", "Dup", "--role", "king"], "Unknown role “king”"),
        (
            ["invite", "create", "--tenant", "Dup", "--role", "operator"],
            "The operator role needs at least one branch",
        ),
    ],
)
def test_bad_input_gets_a_message_and_exit_1(
    server_env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    run(["tenant", "create", "Dup"], server_env, tmp_path)
    run(
        ["branch", "create", "--tenant", "Dup", "--code", "HQ", "--name", "HQ"],
        server_env,
        tmp_path,
    )
    result = run(args, server_env, tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    as_machine = run([*args, "--json"], server_env, tmp_path)
    assert as_machine.returncode == 1
    assert message in as_json(as_machine)["error"]


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    env = intrex_env() | {
        "DATABASE_URL": "postgresql://intrex_app@127.0.0.1:1/none",
        "DATABASE_SYSTEM_URL": "postgresql://intrex_system@127.0.0.1:1/none",
    }
    result = run(["tenant", "list"], env, tmp_path)
    assert result.returncode == 1
    assert "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_generate_prints_a_usable_key(tmp_path: Path) -> None:
    from core.crypto import SecretBox

    result = run(["keys", "generate", "--json"], intrex_env(), tmp_path)
    key = as_json(result)["key"]
    box = SecretBox([key])
    assert box.decrypt_json(box.encrypt_json({"a": 1})) == {"a": 1}


def test_embedded_database_without_url(tmp_path: Path) -> None:
    env = intrex_env() | {"DATA_DIR": str(tmp_path / "data")}
    migrated = run(["migrate", "--json"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr + migrated.stdout
    report = as_json(migrated)
    assert report["to_revision"] is not None
    assert "created database intrex" in report["done"]
    assert (tmp_path / "data" / "pg" / "PG_VERSION").exists()

    created = run(["tenant", "create", "Embedded Co", "--json"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    listed = run(["tenant", "list", "--json"], env, tmp_path)
    assert [t["name"] for t in as_json(listed)["tenants"]] == ["Embedded Co"]

    rotated = run(["keys", "rotate", "--json"], env, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert as_json(rotated)["rotated"] == 0
    assert (tmp_path / "data" / "secret_keys").exists()


def test_run_reports_what_it_started_and_stops_on_sigterm(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    import signal

    process = subprocess.Popen(
        [*INTREX, "run", "--json"],
        env=server_env | {"HTTP_PORT": "0", "SCHEDULER_TICK_SECONDS": "1"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        status = json.loads(process.stdout.readline())
        assert status["started"][:2] == ["scheduler", "dispatcher"]
        assert status["skipped"]["bot"].startswith("BOT_TOKEN is not set")
        base = f"http://127.0.0.1:{status['http_port']}"
        health = _get_json(f"{base}/healthz", until=lambda body: body.get("scheduler") == "ok")
        assert health == {"database": "ok", "scheduler": "ok", "started": status["started"]}
        metrics = _get_text(
            f"{base}/metrics", until=lambda body: "intrex_job_seconds_count" in body
        )
        assert "intrex_job_seconds_count" in metrics
        assert server_env["SECRET_KEYS"] not in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def _get_text(url: str, until: Callable[[str], bool], seconds: float = 20) -> str:
    """GET a text document, again until `until` holds (a job's first run ends after its start)."""
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: str = response.read().decode()
        if until(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def _get_json(
    url: str, until: Callable[[dict[str, Any]], bool], seconds: float = 20
) -> dict[str, Any]:
    """GET a JSON document, again until `until` holds (the scheduler needs a tick)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        if until(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)
