"""Connectors: adding, listing and disabling channels, their secrets encrypted at rest.

Configuration (URLs, tokens, passwords, webhook secrets) is stored only as a Fernet token;
listings and the audit trail show a redacted summary, never the secrets.
"""

from __future__ import annotations

import asyncio
import re
import secrets as token_source
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from core.audit import add_recorded, record_update, snapshot
from core.crypto import SecretBox
from core.db.enums import ConnectorStatus, ConnectorType
from core.db.session import Database
from core.errors import ConflictError, ErrorCode, NotFoundError, ValidationError
from core.i18n import N_
from core.netguard import PrivateAddressError, ip_literal, is_public_address, refuse_private_literal
from core.notify.channels.whatsapp import LANGUAGE_CODE, TEMPLATE_FIELDS, TEMPLATE_NAME
from core.notify.models import Connector
from core.notify.redaction import Redactor
from core.ssl.checker import ResolutionError, Resolver, system_resolver
from core.tenancy.models import Tenant
from core.validation import is_email_address

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
SECURITY_MODES = ("starttls", "tls", "none")
SECRET_FIELDS = frozenset({"secret", "password", "access_token"})
MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class ConnectorSpec:
    """What `intrex connector add` collects; validated into a config by `connector_config`."""

    type: ConnectorType
    name: str
    url: str | None = None
    secret: str | None = None
    host: str | None = None
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str | None = None
    phone_number_id: str | None = None
    access_token: str | None = None
    base_url: str | None = None
    template: str | None = None
    template_language: str | None = None
    template_params: str | None = None
    """WhatsApp: alert fields (`TEMPLATE_FIELDS`), comma-separated, in the body's order."""


def _required(value: str | None, option: str, connector_type: ConnectorType) -> str:
    if not value:
        raise ValidationError(
            ErrorCode.connector_option_required, option=option, type=connector_type.value
        )
    return value


def _http_url(
    value: str | None, option: str, connector_type: ConnectorType, *, allow_private: bool
) -> str:
    url = _required(value, option, connector_type).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(ErrorCode.connector_url_invalid, option=option)
    try:
        refuse_private_literal(parts.hostname, allow_private=allow_private)
    except PrivateAddressError as exc:
        raise ValidationError(
            ErrorCode.connector_url_private, option=option, host=parts.hostname
        ) from exc
    return url


def _whatsapp_template(spec: ConnectorSpec) -> dict[str, Any]:
    """The approved template every alert is sent as: its name, language and which alert
    fields fill its body parameters; an unknown field is refused with the ones there are."""
    name = _required(spec.template, "--template", spec.type).strip()
    if not TEMPLATE_NAME.fullmatch(name):
        raise ValidationError(ErrorCode.whatsapp_template_name_invalid)
    language = _required(spec.template_language, "--template-language", spec.type).strip()
    if not LANGUAGE_CODE.fullmatch(language):
        raise ValidationError(ErrorCode.whatsapp_template_language_invalid)
    fields = [part.strip() for part in (spec.template_params or "").split(",") if part.strip()]
    for field in fields:
        if field not in TEMPLATE_FIELDS:
            raise ValidationError(
                ErrorCode.value_unknown,
                what=N_("template field"),
                value=field,
                choices=", ".join(TEMPLATE_FIELDS),
            )
    return {"template_name": name, "template_language": language, "template_params": fields}


def connector_config(
    spec: ConnectorSpec, *, allow_private: bool
) -> tuple[dict[str, Any], str | None]:
    """The config to encrypt, and a generated secret to show once (webhooks without one)."""
    generated: str | None = None
    if spec.type is ConnectorType.webhook:
        secret = spec.secret or None
        if secret is None:
            secret = generated = token_source.token_urlsafe(32)
        elif len(secret) < MIN_SECRET_LENGTH:
            raise ValidationError(ErrorCode.webhook_key_too_short, limit=MIN_SECRET_LENGTH)
        url = _http_url(spec.url, "--url", spec.type, allow_private=allow_private)
        return {"url": url, "secret": secret}, generated
    if spec.type is ConnectorType.email_smtp:
        host = _required(spec.host, "--host", spec.type)
        port = spec.port or (465 if spec.security == "tls" else 587)
        if not 1 <= port <= 65535:
            raise ValidationError(ErrorCode.smtp_port_out_of_range)
        if spec.security not in SECURITY_MODES:
            raise ValidationError(
                ErrorCode.value_unknown,
                what=N_("security"),
                value=spec.security,
                choices=", ".join(SECURITY_MODES),
            )
        if bool(spec.username) != bool(spec.password):
            raise ValidationError(ErrorCode.smtp_credentials_incomplete)
        if not spec.sender or not is_email_address(spec.sender):
            raise ValidationError(ErrorCode.smtp_sender_invalid)
        config: dict[str, Any] = {
            "host": host.strip(),
            "port": port,
            "security": spec.security,
            "from": spec.sender,
        }
        if spec.username:
            config |= {"username": spec.username, "password": spec.password}
        return config, None
    if spec.type is ConnectorType.whatsapp_business:
        if not spec.phone_number_id or not spec.phone_number_id.isdigit():
            raise ValidationError(ErrorCode.whatsapp_phone_id_invalid)
        access_token = _required(spec.access_token, "--access-token", spec.type)
        config = {"phone_number_id": spec.phone_number_id, "access_token": access_token}
        config |= _whatsapp_template(spec)
        if spec.base_url:
            config["base_url"] = _http_url(
                spec.base_url, "--base-url", spec.type, allow_private=allow_private
            )
        return config, None
    return {}, None


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """A config fit to show: secrets replaced, URLs cut to scheme and host."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECRET_FIELDS:
            shown[key] = "••••"
        elif key in ("url", "base_url"):
            parts = urlsplit(str(value))
            shown[key] = (
                f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/…"
            )
        else:
            shown[key] = value
    return shown


@dataclass(frozen=True)
class ConnectorView:
    connector: Connector
    summary: dict[str, Any]
    generated_secret: str | None = None
    last_error: str | None = None
    """The connector's last failure, redacted with its own secrets (a row stored before
    redaction existed is shown without them too)."""


URL_OPTIONS = (("url", "--url"), ("base_url", "--base-url"))
RESOLVE_SECONDS = 5.0


async def refuse_private_names(
    config: dict[str, Any], *, allow_private: bool, resolver: Resolver | None = None
) -> None:
    """Resolve each URL's host once, now, and refuse a name with any private, loopback or
    link-local address, naming the host and the address (ALLOW_PRIVATE_TARGETS lifts it).

    A name that does not resolve yet is accepted: every send resolves again and refuses a
    private answer then (`core.netguard.PublicOnlyResolver`), permanently.
    """
    if allow_private:
        return
    resolve = resolver or system_resolver()
    for key, option in URL_OPTIONS:
        parts = urlsplit(str(config.get(key) or ""))
        host = parts.hostname
        if not host or ip_literal(host) is not None:
            continue  # IP literals were judged by `_http_url`
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                addresses = await resolve(host, port)
        except (ResolutionError, TimeoutError):
            continue
        refused = [address for address in addresses if not is_public_address(address)]
        if refused:
            raise ValidationError(
                ErrorCode.connector_host_private,
                option=option,
                host=host,
                address=", ".join(refused),
            )


async def add_connector(
    db: Database,
    box: SecretBox,
    tenant: Tenant,
    spec: ConnectorSpec,
    *,
    allow_private: bool,
    user_id: int | None = None,
    resolver: Resolver | None = None,
) -> ConnectorView:
    name = spec.name.strip()
    if not NAME.fullmatch(name):
        raise ValidationError(ErrorCode.connector_name_invalid, value=spec.name)
    config, generated = connector_config(spec, allow_private=allow_private)
    await refuse_private_names(config, allow_private=allow_private, resolver=resolver)
    connector = Connector(
        tenant_id=tenant.id,
        type=spec.type,
        name=name,
        status=ConnectorStatus.active,
        config_encrypted_json=box.encrypt_json(config),
    )
    async with db.tenant_uow(tenant.id) as session:
        duplicate = await session.scalar(select(Connector.id).where(Connector.name == name))
        if duplicate is not None:
            raise ConflictError(ErrorCode.connector_exists, name=name)
        await add_recorded(
            session,
            connector,
            tenant_id=tenant.id,
            action="connector.add",
            entity_type="connector",
            user_id=user_id,
            exclude={"config_encrypted_json"},
        )
    return ConnectorView(connector, redacted(config), generated)


async def list_connectors(db: Database, box: SecretBox, tenant: Tenant) -> list[ConnectorView]:
    async with db.tenant_uow(tenant.id) as session:
        connectors = list(await session.scalars(select(Connector).order_by(Connector.name)))
    views = []
    for connector in connectors:
        config = box.decrypt_json(connector.config_encrypted_json)
        error = connector.last_error
        shown = Redactor.for_connector(config)(error) if error else None
        views.append(ConnectorView(connector, redacted(config), last_error=shown))
    return views


async def set_connector_status(
    db: Database,
    tenant: Tenant,
    name: str,
    status: ConnectorStatus,
    *,
    user_id: int | None = None,
) -> Connector:
    """Disable (or re-enable) a connector; disabled ones receive nothing new."""
    async with db.tenant_uow(tenant.id) as session:
        connector = await session.scalar(
            select(Connector).where(Connector.name == name.strip()).with_for_update()
        )
        if connector is None:
            raise NotFoundError(ErrorCode.connector_not_found, name=name.strip())
        before = snapshot(connector, exclude={"config_encrypted_json"})
        connector.status = status
        if status is ConnectorStatus.active:
            connector.consecutive_failures = 0
        await record_update(
            session,
            connector,
            before,
            tenant_id=tenant.id,
            action=f"connector.{'disable' if status is ConnectorStatus.disabled else 'enable'}",
            entity_type="connector",
            user_id=user_id,
            exclude={"config_encrypted_json"},
        )
    return connector


async def rotate_connector_secrets(db: Database, box: SecretBox) -> int:
    """Re-encrypt every tenant's connector configs in one transaction; returns the row count.

    All or nothing: if one row cannot be decrypted with any key, nothing is rewritten.
    """
    async with db.system_uow() as session:
        connectors = await session.scalars(select(Connector).with_for_update())
        count = 0
        for connector in connectors:
            connector.config_encrypted_json = box.rotate(connector.config_encrypted_json)
            count += 1
    return count
