"""Connectors never point at private networks: refused at `connector add` when the name
resolves there, and a send whose name resolves there fails for good, not six times."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.config import Settings
from core.crypto import SecretBox
from core.db.enums import ConnectorType, NotificationStatus
from core.errors import ErrorCode, ValidationError
from core.netguard import PrivateAddressError, private_refusal
from core.notify.connectors import ConnectorSpec, add_connector
from core.notify.dispatcher import Dispatcher
from core.notify.models import Connector
from core.notify.wiring import build_channels, close_channels
from core.ssl.checker import StaticResolver
from tests.core.notify.conftest import Clock, World
from tests.core.notify.helpers import WEBHOOK_SECRET, deliveries_of, emit, route, steps_of, strict
from tests.peers import WebhookReceiver

NAMES = StaticResolver(
    {
        "hooks.intranet.example": ["10.0.0.7"],
        "mixed.example": ["93.184.216.34", "192.168.1.5"],
        "metadata.example": ["169.254.169.254"],
        "v6-local.example": ["fd00::1"],
        "hooks.example.com": ["93.184.216.34"],
    }
)


def hook(url: str, name: str = "hook") -> ConnectorSpec:
    return ConnectorSpec(type=ConnectorType.webhook, name=name, url=url, secret=WEBHOOK_SECRET)


async def names(world: World) -> list[str]:
    async with world.db.tenant_uow(world.tenant.id) as session:
        return list(await session.scalars(select(Connector.name)))


@pytest.mark.parametrize(
    ("url", "host", "address"),
    [
        ("https://hooks.intranet.example/in", "hooks.intranet.example", "10.0.0.7"),
        ("https://mixed.example/in", "mixed.example", "192.168.1.5"),
        ("http://metadata.example/latest", "metadata.example", "169.254.169.254"),
        ("https://v6-local.example/in", "v6-local.example", "fd00::1"),
    ],
)
async def test_a_webhook_whose_name_resolves_privately_is_refused(
    world: World, box: SecretBox, url: str, host: str, address: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await add_connector(
            world.db, box, world.tenant, hook(url), allow_private=False, resolver=NAMES
        )
    assert refused.value.code is ErrorCode.connector_host_private
    assert refused.value.params == {"option": "--url", "host": host, "address": address}
    assert host in refused.value.message
    assert address in refused.value.message
    assert await names(world) == []


async def test_localhost_is_refused_by_the_system_resolver(world: World, box: SecretBox) -> None:
    with pytest.raises(ValidationError) as refused:
        await add_connector(
            world.db, box, world.tenant, hook("http://localhost:8080/in"), allow_private=False
        )
    assert refused.value.code is ErrorCode.connector_host_private
    assert (
        "127.0.0.1" in refused.value.params["address"] or "::1" in refused.value.params["address"]
    )


async def test_a_whatsapp_gateway_is_resolved_too(world: World, box: SecretBox) -> None:
    spec = ConnectorSpec(
        type=ConnectorType.whatsapp_business,
        name="wa",
        phone_number_id="1234567890",
        access_token="token-of-some-length",
        base_url="https://hooks.intranet.example/v21.0",
        template="intrex_alert",
        template_language="en",
        template_params="headline",
    )
    with pytest.raises(ValidationError) as refused:
        await add_connector(world.db, box, world.tenant, spec, allow_private=False, resolver=NAMES)
    assert refused.value.params["option"] == "--base-url"
    assert refused.value.params["address"] == "10.0.0.7"


async def test_public_unresolvable_and_allowed_names_are_accepted(
    world: World, box: SecretBox
) -> None:
    await add_connector(
        world.db,
        box,
        world.tenant,
        hook("https://hooks.example.com/in", "public"),
        allow_private=False,
        resolver=NAMES,
    )
    await add_connector(  # not resolvable yet: every send resolves (and refuses) again
        world.db,
        box,
        world.tenant,
        hook("https://not-yet.example/in", "later"),
        allow_private=False,
        resolver=NAMES,
    )
    await add_connector(  # ALLOW_PRIVATE_TARGETS: an intranet on purpose
        world.db,
        box,
        world.tenant,
        hook("https://hooks.intranet.example/in", "intranet"),
        allow_private=True,
        resolver=NAMES,
    )
    assert sorted(await names(world)) == ["intranet", "later", "public"]


async def test_a_private_resolution_at_send_time_is_permanent(
    world: World, box: SecretBox, settings: Settings, clock: Clock, receiver: WebhookReceiver
) -> None:
    """Saved while allowed (or before the name moved), sent while refused: one attempt, a
    dead letter naming the host, nothing reaches the receiver."""
    url = f"http://localhost:{receiver.port}/hook"
    await add_connector(world.db, box, world.tenant, hook(url), allow_private=True)
    await route(world, "hook")
    event = await emit(world, clock.now)
    assert event is not None
    refusing = strict(settings)
    channels = build_channels(refusing)
    dispatcher = Dispatcher(world.db, refusing, box, channels, worker_id="strict", clock=clock)
    try:
        report = await dispatcher.run_once()
        clock.advance(hours=2)
        again = await dispatcher.run_once()
    finally:
        await close_channels(channels)

    assert (report.dead, report.retried, again.claimed) == (1, 0, 0)
    [step] = await steps_of(world, event.id)
    assert step.status is NotificationStatus.dead_letter
    assert step.attempts == 1
    assert step.last_error is not None
    assert "localhost" in step.last_error
    assert len(await deliveries_of(world, event.id)) == 1
    assert receiver.requests == []


def test_a_refusal_is_found_however_it_was_wrapped() -> None:
    refusal = PrivateAddressError(ErrorCode.target_resolves_private, host="x.example")

    class Wrapper(OSError):
        def __init__(self, inner: BaseException) -> None:
            super().__init__("cannot connect")
            self.os_error = inner

    outer = RuntimeError("client failed")
    outer.__cause__ = Wrapper(refusal)
    assert private_refusal(outer) is refusal
    assert private_refusal(OSError("connection refused")) is None
