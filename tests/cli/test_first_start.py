"""A fresh `intrex run`: healthy while its scheduler starts, and it says what to do first."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.main import FIRST_TENANT_STEP, next_step
from cli.runtime import Services, healthz
from core.config import Settings
from core.crypto import SecretBox, generate_key
from core.db.enums import AppRole
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.wiring import close_channels
from core.tenancy.models import User
from core.tenancy.service import create_tenant
from core.worker import Worker
from tests.environment import INTREX, intrex_env


async def test_healthz_is_starting_until_the_first_tick_then_stalled_when_ticks_stop(
    db: Database,
) -> None:
    settings = Settings(_env_file=None, scheduler_tick_seconds=1)
    worker = Worker(db, settings, SecretBox([generate_key()]))
    services = Services(database="DATABASE_URL", started=["scheduler"], worker=worker, db=db)
    try:
        expected = {"database": "ok", "started": ["scheduler"]}
        assert await healthz(services) == (200, expected | {"scheduler": "starting"})

        worker.beat()  # what every job does as the scheduler starts it
        assert await healthz(services) == (200, expected | {"scheduler": "ok"})

        assert worker.last_beat is not None
        worker.last_beat -= worker.patience  # and then no job for that long
        assert await healthz(services) == (503, expected | {"scheduler": "stalled"})

        worker.last_beat = None
        worker.created -= worker.patience  # a scheduler that never ticked at all
        assert await healthz(services) == (503, expected | {"scheduler": "stalled"})
    finally:
        await close_channels(worker.channels)


async def test_next_step_is_a_tenant_then_a_first_user_then_nothing(private_db: Database) -> None:
    assert await next_step(private_db) == FIRST_TENANT_STEP
    assert "intrex tenant create NAME --timezone Asia/Dhaka" in FIRST_TENANT_STEP
    assert "intrex invite create --tenant NAME --role head_office_admin" in FIRST_TENANT_STEP

    acme = await create_tenant(private_db, "Acme Ltd", "Asia/Dhaka")
    assert await next_step(private_db) == (
        "No user yet: run `intrex invite create --tenant 'Acme Ltd' --role head_office_admin`"
        " and open the link it prints in Telegram."
    )
    await create_tenant(private_db, "Bravo", "UTC")
    several = await next_step(private_db)
    assert several is not None
    assert "--tenant NAME --role head_office_admin` (NAME: one of `intrex tenant list`)" in several

    async with private_db.tenant_uow(acme.id) as session:
        session.add(User(tenant_id=acme.id, role=AppRole.head_office_admin, email="a@acme.test"))
    assert await next_step(private_db) is None


def test_a_fresh_run_is_healthy_at_once_and_names_the_first_steps(
    private_target: DatabaseTarget, tmp_path: Path
) -> None:
    env = intrex_env(private_target, secret_key=generate_key()) | {
        "HTTP_PORT": "0",
        "SCHEDULER_TICK_SECONDS": "1",
    }
    with running(["run", "--json"], env, tmp_path) as lines:
        status = json.loads(lines[0])
        code, health = get_health(status["http_port"])  # at once: before the first tick
        assert (code, health["scheduler"]) in {(200, "starting"), (200, "ok")}, health
        assert status["next_step"] == FIRST_TENANT_STEP

    created = subprocess.run(
        [*INTREX, "tenant", "create", "Acme", "--timezone", "Asia/Dhaka"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr

    with running(["run"], env, tmp_path, until="Press Ctrl-C") as announced:
        pass
    assert announced[0].startswith("Intrex is up on DATABASE_URL: scheduler, dispatcher, http")
    assert (
        "No user yet: run `intrex invite create --tenant Acme --role head_office_admin` "
        "and open the link it prints in Telegram."
    ) in announced


@contextmanager
def running(
    args: list[str], env: dict[str, str], cwd: Path, until: str = "{"
) -> Iterator[list[str]]:
    """`intrex ARGS` running, with its output up to the line that starts with `until`.

    SIGTERM at the end: it must then stop with exit status 0.
    """
    process = subprocess.Popen(
        [*INTREX, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith(until):
            line = process.stdout.readline()
            if not line:
                _, errors = process.communicate(timeout=30)
                raise AssertionError(f"intrex {args} stopped: {lines} {errors[-2000:]}")
            lines.append(line.rstrip("\n"))
        yield lines
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def get_health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
