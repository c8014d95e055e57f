"""Fixtures of the notification tests: settings, a controllable clock, a tenant, a dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.config import Settings
from core.crypto import SecretBox, generate_key
from core.db.session import Database
from core.notify.channels.base import Channel
from core.notify.dispatcher import Dispatcher
from core.notify.wiring import build_channels, close_channels
from core.tenancy.models import Branch, Tenant
from tests.companies import new_branch, new_tenant


class Clock:
    """A controllable clock for the dispatcher: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: Any) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([generate_key()])


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,
        allow_private_targets=True,
        notify_max_attempts=4,
        notify_retry_base_seconds=10,
        notify_retry_max_seconds=600,
        notify_lease_seconds=60,
        connector_error_threshold=3,
        webhook_timeout_seconds=1.0,
        smtp_timeout_seconds=2.0,
    )


@dataclass
class World:
    db: Database
    tenant: Tenant
    branch: Branch


@pytest.fixture
async def world(private_db: Database) -> World:
    tenant = await new_tenant(private_db, "Asia/Dhaka", name="Notify Co")
    branch = await new_branch(private_db, tenant, "DHK-01", name="Dhaka")
    return World(private_db, tenant, branch)


@pytest.fixture
async def channels(settings: Settings) -> AsyncIterator[dict[Any, Channel]]:
    built = build_channels(settings)
    yield built
    await close_channels(built)


@pytest.fixture
def dispatcher(
    world: World, settings: Settings, box: SecretBox, channels: dict[Any, Channel], clock: Clock
) -> Dispatcher:
    return Dispatcher(world.db, settings, box, channels, worker_id="test-worker", clock=clock)
