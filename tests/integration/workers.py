"""Starting real `intrex run` processes against a test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.db.target import DatabaseTarget

INTREX = str(Path(sys.executable).with_name("intrex"))


def worker_env(target: DatabaseTarget, secret_key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SECRET_KEYS"))}
    env |= {
        "DATABASE_URL": target.runtime_url.render_as_string(hide_password=False),
        "SECRET_KEYS": secret_key,
        "ALLOW_PRIVATE_TARGETS": "true",
        "HTTP_PORT": "0",
        "NOTIFY_POLL_SECONDS": "0.2",
        "LOG_FORMAT": "json",
    }
    return env | extra


def start(
    env: dict[str, str], log: Path, *args: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `intrex run ARGS --json` and return it with its status line once it is up."""
    process = subprocess.Popen(
        [INTREX, "run", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise AssertionError(f"intrex run did not start: {log.read_text()[-2000:]}")
    return process, json.loads(line)
