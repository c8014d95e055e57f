"""`intrex connector add|list` for WhatsApp: the approved template an alert is sent as."""

from __future__ import annotations

import uuid

import pytest

from core.crypto import SecretBox, generate_key
from core.db.enums import ConnectorStatus, ConnectorType
from core.db.session import Database
from core.db.target import DatabaseTarget
from core.notify.models import Connector
from core.tenancy.service import resolve_tenant
from tests.cli.test_notify_cli import intrex, last_json
from tests.environment import intrex_env

WHATSAPP = [
    "--type",
    "whatsapp_business",
    "--phone-number-id",
    "1234567890",
    "--access-token",
    "EAAG-cli-token-secret",
]


@pytest.fixture
def env(target: DatabaseTarget) -> dict[str, str]:
    return intrex_env(target, secret_key=generate_key(), ALLOW_PRIVATE_TARGETS="true")


async def new_tenant(env: dict[str, str]) -> str:
    tenant = f"cli-wa-{uuid.uuid4().hex[:6]}"
    assert (await intrex(env, "tenant", "create", tenant))[0] == 0
    return tenant


async def test_a_whatsapp_connector_names_its_template_and_fields(env: dict[str, str]) -> None:
    tenant = await new_tenant(env)
    code, out, err = await intrex(
        env,
        "connector",
        "add",
        "--tenant",
        tenant,
        "--name",
        "wa",
        *WHATSAPP,
        "--template",
        "intrex_alert",
        "--template-language",
        "en_US",
        "--template-params",
        "headline, branch,due",
        "--json",
    )
    assert code == 0, out + err
    config = last_json(out)["config"]
    assert config["template_name"] == "intrex_alert"
    assert config["template_language"] == "en_US"
    assert config["template_params"] == ["headline", "branch", "due"]
    assert config["access_token"] == "••••"

    code, out, _ = await intrex(env, "connector", "list", "--tenant", tenant, "--json")
    [row] = last_json(out)["connectors"]
    assert row["no_template"] is False
    assert "EAAG-cli-token-secret" not in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            [
                "--template",
                "intrex_alert",
                "--template-language",
                "en_US",
                "--template-params",
                "headline,colour",
            ],
            "Unknown template field “colour”: choose one of headline, severity, branch, "
            "branch_code, title, due, days, status, link.",
        ),
        (["--template-language", "en_US"], "--template is required for whatsapp_business."),
        (["--template", "intrex_alert"], "--template-language is required for whatsapp_business."),
        (
            ["--template", "Intrex Alert", "--template-language", "en_US"],
            "--template must be the template's name as Meta approved it",
        ),
    ],
)
async def test_a_template_that_cannot_be_sent_is_refused_at_add(
    env: dict[str, str], options: list[str], message: str
) -> None:
    tenant = await new_tenant(env)
    code, out, err = await intrex(
        env, "connector", "add", "--tenant", tenant, "--name", "wa", *WHATSAPP, *options
    )
    assert code == 1
    assert message in out + err
    assert "Traceback" not in out + err
    code, out, _ = await intrex(env, "connector", "list", "--tenant", tenant, "--json")
    assert last_json(out)["connectors"] == []


async def test_a_connector_from_before_templates_is_listed_as_such(
    env: dict[str, str], db: Database
) -> None:
    tenant = await new_tenant(env)
    owner = await resolve_tenant(db, tenant)
    box = SecretBox([env["SECRET_KEYS"]])
    async with db.tenant_uow(owner.id) as session:
        session.add(
            Connector(
                tenant_id=owner.id,
                type=ConnectorType.whatsapp_business,
                name="old-wa",
                status=ConnectorStatus.active,
                config_encrypted_json=box.encrypt_json(
                    {"phone_number_id": "1234567890", "access_token": "EAAG-old"}
                ),
            )
        )

    code, out, err = await intrex(env, "connector", "list", "--tenant", tenant)
    assert code == 0, err
    assert "old-wa" in out
    assert "no template: alerts through it are refused" in out
    code, out, _ = await intrex(env, "connector", "list", "--tenant", tenant, "--json")
    [row] = last_json(out)["connectors"]
    assert row["no_template"] is True
