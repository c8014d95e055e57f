"""The environment an `intrex` subprocess starts with in the tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.db.target import DatabaseTarget

INTREX = [str(Path(sys.executable).with_name("intrex"))]
"""The installed command; `python -m cli` where the venv has no script."""
if not Path(INTREX[0]).exists():
    INTREX = [sys.executable, "-m", "cli"]

OWN_SETTINGS = ("DATABASE_", "SECRET_KEYS", "DATA_DIR", "SSL_", "TTY_")
"""Settings a test always decides itself, never inherits from whoever runs the tests."""


def intrex_env(
    target: DatabaseTarget | None = None, *, secret_key: str | None = None, **settings: str
) -> dict[str, str]:
    """This process's environment without its database, keys and data folder, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    env["COLUMNS"] = "200"
    if target is not None:
        env["DATABASE_URL"] = target.runtime_url.render_as_string(hide_password=False)
        env["DATABASE_SYSTEM_URL"] = target.system_url.render_as_string(hide_password=False)
    if secret_key is not None:
        env["SECRET_KEYS"] = secret_key
    return env | settings
