"""The deployment files keep their promises.

Docker's engine is not on the development machines, so the image is never built here. What can
be checked without it is checked: the compose file's structure (and `docker compose config`
when a compose client is installed), the Dockerfile's instructions, that the wheel the image
installs finds its migrations, and that the processes compose starts for the split topology
work: a webhook-mode bot replica answers an update posted to it, and the image's HEALTHCHECK
command, run verbatim, tells a healthy process from an absent one.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from cli.runtime import WEBHOOK_PATH
from core.crypto import generate_key
from core.db.migrate import head_revision
from core.db.target import DatabaseTarget
from tests.integration.workers import start, worker_env
from tests.telegram_stub import TelegramStub
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
RUNTIME_LOCK = REPO / "requirements.txt"
DEV_LOCK = REPO / "requirements-dev.txt"
LOCK_COMMAND = "tools/lock.sh"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)
INTREX_SERVICES = ("intrex", "bot", "worker")
SECRET_NAMES = (
    "BOT_TOKEN",
    "SECRET_KEYS",
    "WEBHOOK_SECRET",
    "POSTGRES_PASSWORD",
    "INTREX_DB_PASSWORD",
    "INTREX_SYSTEM_DB_PASSWORD",
)
INTERPOLATION = re.compile(r"^\$\{[A-Z_]+(:?[?-][^}]*)?\}$")
URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@\s]+)@")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    pairs = []
    for instruction in logical:
        keyword, _, arguments = instruction.partition(" ")
        pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def instruction_args(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == keyword]


def healthcheck_command() -> str:
    """The shell command the image's HEALTHCHECK runs."""
    (healthcheck,) = instruction_args("HEALTHCHECK")
    return healthcheck.split(" CMD ", 1)[1].strip()


def test_postgres_16_keeps_its_data_in_a_named_volume() -> None:
    postgres = service("postgres")
    assert postgres["image"] == "postgres:16"
    mounts = dict(volume.split(":", 1)[::-1] for volume in postgres["volumes"])
    assert mounts["/var/lib/postgresql/data"] in compose()["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_migrate_runs_once_as_the_superuser_and_names_the_runtime_role() -> None:
    migrate = service("migrate")
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    environment = migrate["environment"]
    assert environment["DATABASE_ADMIN_URL"].startswith("postgresql://postgres:")
    assert environment["DATABASE_URL"].startswith("postgresql://intrex_app:")
    assert environment["DATABASE_SYSTEM_URL"].startswith("postgresql://intrex_system:")
    assert "env_file" not in migrate, "the migration needs no bot token or keys"


def test_every_intrex_process_waits_for_the_migration_and_shares_data() -> None:
    volumes = compose()["volumes"]
    for name in INTREX_SERVICES:
        process = service(name)
        assert process["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert process["env_file"] == ".env"
        environment = process["environment"]
        for url in ("DATABASE_URL", "DATABASE_SYSTEM_URL"):
            assert environment[url] == service("migrate")["environment"][url]
        assert environment["DATA_DIR"] == "/data"
        assert environment["POSTGRES_PASSWORD"] == "", "the superuser password stays in postgres"
        assert ipaddress.ip_address(environment["HTTP_HOST"]).is_unspecified
        (mount,) = process["volumes"]
        volume, path = mount.split(":")
        assert (volume in volumes, path) == (True, "/data")
        for published in process.get("ports", []):
            assert published.startswith("127.0.0.1:"), "health, metrics stay off public ports"
        grace = int(str(process["stop_grace_period"]).removesuffix("s"))
        assert grace > 20, "SIGTERM must get SHUTDOWN_GRACE_SECONDS before the kill"


def test_split_profile_runs_webhook_bots_and_workers() -> None:
    assert "profiles" not in service("intrex")
    assert service("intrex")["command"] == ["run"]
    bot, worker = service("bot"), service("worker")
    assert (bot["profiles"], worker["profiles"]) == (["split"], ["split"])
    assert bot["command"] == ["run", "--no-worker"]
    assert bot["environment"]["BOT_MODE"] == "webhook"
    assert worker["command"] == ["run", "--no-bot"]
    assert "ports" not in worker


def test_no_secret_value_is_written_into_compose_or_dockerfile() -> None:
    for name, definition in compose()["services"].items():
        for key, value in (definition.get("environment") or {}).items():
            if key in SECRET_NAMES and value != "":
                assert INTERPOLATION.match(str(value)), f"{name}: {key} has a literal value"
            for password in URL_PASSWORD.findall(str(value)):
                assert INTERPOLATION.match(password), f"{name}: {key} embeds a password"
    raw = COMPOSE_FILE.read_text()
    for secret in SECRET_NAMES:
        for value in re.findall(rf"^\s*(?:-\s*)?{secret}\s*[=:]\s*(\S+)", raw, re.M):
            assert value.startswith("${") or value == '""', f"{secret} has a value in the file"
    for keyword in ("ENV", "ARG"):
        for arguments in instruction_args(keyword):
            named = set(re.findall(r"([A-Z_]+)=", arguments))
            assert not named & {*SECRET_NAMES, "DATABASE_URL", "DATABASE_ADMIN_URL"}, arguments
            assert "DATABASE_SYSTEM_URL" not in named, arguments


def test_dockerfile_builds_in_stages_and_runs_unprivileged() -> None:
    stages = instruction_args("FROM")
    assert len(stages) >= 2
    assert all(stage.startswith("python:3.11-slim") for stage in stages)
    users = instruction_args("USER")
    assert users, "the runtime stage needs a USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    environment = " ".join(instruction_args("ENV"))
    assert "DATA_DIR=/data" in environment
    assert "HTTP_HOST=0.0.0.0" in environment
    assert instruction_args("VOLUME") == ['["/data"]']
    assert instruction_args("ENTRYPOINT") == ['["intrex"]']
    assert instruction_args("CMD") == ['["run"]']
    assert "${HTTP_PORT:-8080}/healthz" in healthcheck_command()


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((REPO / ".dockerignore").read_text().splitlines())
    assert {".env", ".venv", ".git", ".intrex"} <= ignored


def lock_pins(lock: Path) -> dict[str, Version]:
    """A lock file's `name==version` pins, by normalised name."""
    return {
        canonicalize_name(name): Version(version) for name, version in PIN.findall(lock.read_text())
    }


def pyproject_requirements(*extras: str) -> list[Requirement]:
    """pyproject's runtime dependencies, plus those of the optional groups named."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"]]
    for extra in extras:
        listed += project["optional-dependencies"][extra]
    return [Requirement(line) for line in listed]


def lock_gaps(requirements: list[Requirement], lock: Path) -> list[str]:
    """What `requirements` need, down to the last transitive dependency, that `lock` lacks.

    pyproject's own entries are checked by name and range; below them, the tree (extras
    included, such as sqlalchemy[asyncio]'s greenlet) is read from the installed packages'
    metadata, which is the locked version's because CI installs from the lock. A package
    installed at another version than the locked one is reported too: the lock was
    refreshed and not installed, or the venv was installed from something else.
    """
    pins = lock_pins(lock)
    gaps: list[str] = []
    walked: dict[str, set[str]] = {}
    pending = [(requirement, "pyproject.toml", {""}) for requirement in requirements]
    while pending:
        requirement, wanted_by, by_extras = pending.pop()
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": e}) for e in by_extras):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            gaps.append(f"{requirement} (wanted by {wanted_by}) is not locked")
            continue
        if not requirement.specifier.contains(pins[name], prereleases=True):
            gaps.append(f"{name}=={pins[name]} is locked, {wanted_by} wants {requirement}")
            continue
        extras = {"", *requirement.extras} - walked.get(name, set())
        if not extras:
            continue
        walked.setdefault(name, set()).update(extras)
        try:
            installed = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            gaps.append(f"{name}=={pins[name]} is locked but not installed")
            continue
        if Version(installed.version) != pins[name]:
            gaps.append(f"{name} {installed.version} is installed, {pins[name]} is locked")
            continue
        pending += [(Requirement(line), name, extras) for line in installed.requires or []]
    return gaps


def test_the_runtime_lock_covers_every_runtime_dependency() -> None:
    gaps = lock_gaps(pyproject_requirements(), RUNTIME_LOCK)
    assert not gaps, f"requirements.txt is stale, run {LOCK_COMMAND}:\n" + "\n".join(gaps)


def test_the_dev_lock_covers_the_dev_tools_at_the_runtime_versions() -> None:
    gaps = lock_gaps(pyproject_requirements("dev"), DEV_LOCK)
    dev_pins = lock_pins(DEV_LOCK)
    gaps += [
        f"{name}=={version} in requirements.txt, {dev_pins.get(name)} in requirements-dev.txt"
        for name, version in lock_pins(RUNTIME_LOCK).items()
        if dev_pins.get(name) != version
    ]
    assert not gaps, f"requirements-dev.txt is stale, run {LOCK_COMMAND}:\n" + "\n".join(gaps)


def test_the_locks_pin_every_file_by_hash_and_name_their_refresh_command() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        text = lock.read_text()
        assert f"#    {LOCK_COMMAND}\n" in text, f"{lock.name} was not written by {LOCK_COMMAND}"
        entries = re.split(r"\n(?=\S)", text)
        pinned = [entry for entry in entries if PIN.match(entry)]
        assert len(pinned) == len(lock_pins(lock)) > 0
        assert all("--hash=sha256:" in entry for entry in pinned), lock.name
        assert not re.search(r"^-e |^--(extra-)?index-url|^--find-links", text, re.M), lock.name


def test_ci_the_readme_and_the_image_install_from_the_lock() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install --quiet --require-hashes -r requirements-dev.txt" in ci
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in ci
    run_line, test_line = (REPO / "README.md").read_text().split("```sh\n", 1)[1].splitlines()[:2]
    readme = (
        (run_line, "requirements.txt", "--no-deps -e .", "intrex run"),
        (test_line, "requirements-dev.txt", "--no-deps --no-build-isolation -e .", "pytest"),
    )
    for line, lock, build, runs_with in readme:
        assert f"pip install -r {lock} && " in line
        assert f"pip install {build} && " in line
        assert line.endswith(f".venv/bin/{runs_with}")
    runs = instruction_args("RUN")
    assert "requirements.txt ./" in instruction_args("COPY")
    assert any("pip install --require-hashes -r requirements.txt" in run for run in runs)
    (install,) = [run for run in runs if "pip install" in run and "wheel" in run]
    assert "pip install --no-deps" in install, "Intrex must add nothing beyond the lock"


def compose_client() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose`, whichever answers."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for candidate in candidates:
        probe = subprocess.run(
            [*candidate, "version"], capture_output=True, text=True, timeout=60, check=False
        )
        if probe.returncode == 0:
            return candidate
    return None


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    client = compose_client()
    if client is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    project = tmp_path / "deploy"
    project.mkdir()
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    example = (REPO / ".env.example").read_text()
    passwords = (
        "POSTGRES_PASSWORD=pg-example\nINTREX_DB_PASSWORD=app-example\n"
        "INTREX_SYSTEM_DB_PASSWORD=system-example\n"
    )
    for env_text, expected in ((example + passwords, 0), (example, 1)):
        (project / ".env").write_text(env_text)
        for profile in ([], ["--profile", "split"]):
            checked = subprocess.run(
                [*client, *profile, "-f", "docker-compose.yml", "config", "-q"],
                cwd=project,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert (checked.returncode != 0) == bool(expected), checked.stderr
            if expected:
                assert "POSTGRES_PASSWORD" in checked.stderr or "INTREX_DB" in checked.stderr


def test_the_wheel_finds_its_migrations_when_installed(tmp_path: Path) -> None:
    """The image installs a wheel, not the source tree: migrations must travel inside it."""
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheels").glob("intrex-*.whl")
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    for version in (REPO / "migrations" / "versions").glob("*.py"):
        assert f"migrations/versions/{version.name}" in names
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, core; from core.db.migrate import MIGRATIONS_DIR, head_revision; "
            "print(json.dumps([core.__file__, str(MIGRATIONS_DIR), head_revision()]))",
        ],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    module, migrations, head = json.loads(probe.stdout)
    assert Path(module).is_relative_to(site)
    assert Path(migrations) == site / "migrations"
    assert head == head_revision()


def probe_health(port: int) -> subprocess.CompletedProcess[str]:
    """Run the image's HEALTHCHECK command as Docker would: through /bin/sh, with HTTP_PORT."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["/bin/sh", "-c", healthcheck_command()],
        env=os.environ | {"HTTP_PORT": str(port), "PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_split_bot_replica_answers_webhook_updates(
    target: DatabaseTarget, tmp_path: Path
) -> None:
    """`intrex run --no-worker` with BOT_MODE=webhook, as the compose `bot` service runs it."""
    stub = TelegramStub()
    await stub.start()
    secret = "webhook-secret-for-the-replica"
    env = worker_env(
        target,
        generate_key(),
        BOT_TOKEN="123456:replica-test-token",
        TELEGRAM_API_URL=stub.base_url,
        BOT_MODE="webhook",
        WEBHOOK_BASE_URL="https://intrex.example.com/",
        WEBHOOK_SECRET=secret,
        HTTP_HOST="127.0.0.1",
    )
    log = tmp_path / "bot.log"
    replica, status = await asyncio.to_thread(start, env, log, "--no-worker")
    try:
        assert "bot (webhook)" in status["started"]
        assert "dashboard /app" in status["started"]
        assert status["skipped"] == {"worker": "--no-worker"}
        (registered,) = stub.sent("setWebhook")
        assert registered.params["url"] == "https://intrex.example.com" + WEBHOOK_PATH
        assert registered.params["secret_token"] == secret

        port = int(status["http_port"])
        health = await asyncio.to_thread(probe_health, port)
        assert health.returncode == 0, health.stderr

        chat = 7_700_001
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": "Nadia"},
                "from": {"id": chat, "is_bot": False, "first_name": "Nadia"},
                "text": "/obligations",
            },
        }
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        async with aiohttp.ClientSession() as http:
            forged = {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
            async with http.post(url, json=update, headers=forged) as response:
                assert response.status == 401
            genuine = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url, json=update | {"update_id": 2}, headers=genuine) as answer:
                assert answer.status == 200

        async def replied() -> bool:
            return bool(stub.texts(chat))

        assert await eventually(replied, 15), log.read_text()[-2000:]
        (reply,) = stub.texts(chat)
        assert "not linked" in reply
    finally:
        replica.send_signal(signal.SIGTERM)
        await asyncio.to_thread(replica.wait, 60)
        await stub.stop()
    assert replica.returncode == 0, log.read_text()[-2000:]
    stopped = await asyncio.to_thread(probe_health, port)
    assert stopped.returncode != 0
