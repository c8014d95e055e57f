"""Starting real `intrex run` processes against a test database."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from core.db.target import DatabaseTarget
from tests.environment import INTREX, intrex_env


def worker_env(target: DatabaseTarget, secret_key: str, **extra: str) -> dict[str, str]:
    defaults = {
        "ALLOW_PRIVATE_TARGETS": "true",
        "HTTP_PORT": "0",
        "NOTIFY_POLL_SECONDS": "0.2",
        "LOG_FORMAT": "json",
    }
    return intrex_env(target, secret_key=secret_key, **(defaults | extra))


def start(
    env: dict[str, str], log: Path, *args: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `intrex run ARGS --json`; return it with its status line once it is up.

    It blocks: a test whose peers run on its own event loop calls it in a thread.

    Standard output (the status line, and the reason if the process stops on a failure)
    goes to `log` + ".out", the logs to `log`.
    """
    out = log.with_suffix(".out")
    process = subprocess.Popen(
        [*INTREX, "run", *args, "--json"],
        env=env,
        stdout=out.open("w"),
        stderr=log.open("w"),
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if lines:
            return process, json.loads(lines[0])
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"intrex run did not start: {out.read_text()} {log.read_text()[-2000:]}")
