"""`intrex connector`, `intrex route` and `intrex notify`: setting up who hears about what."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from cli.database import answer_for_tenant, answer_from_database
from cli.output import JSON_OPTION, Refused, Reply, fail, refusals
from cli.people import local_time
from core.clock import utc_now
from core.config import get_settings
from core.crypto import load_secret_box
from core.db.enums import (
    ConnectorStatus,
    ConnectorType,
    NotificationEventType,
    NotificationStatus,
)
from core.db.session import Database
from core.i18n import N_
from core.notify import connectors as connector_service
from core.notify import routes as route_service
from core.notify.addressees import Addressed, name_recipients
from core.notify.channels.whatsapp import TEMPLATE_FIELDS
from core.notify.dead_letters import DeadLetter, list_dead_letters, retry_dead_letters
from core.notify.dispatcher import Dispatcher
from core.notify.health import ConnectorHealth, HealthStatus, connector_health
from core.notify.models import Connector, NotificationEvent, NotificationStep
from core.notify.recipients import RESOLVED
from core.notify.routes import parse_severity
from core.notify.wiring import build_channels, close_channels, send_test_event
from core.parsing import parse_enum
from core.tenancy.models import Tenant
from core.tenancy.service import resolve_tenant

connector_app = typer.Typer(help="Delivery channels of a tenant.", no_args_is_help=True)
route_app = typer.Typer(
    help="Which events go to which connector and recipient.", no_args_is_help=True
)
notify_app = typer.Typer(help="Test alerts and dead letters.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id or unique name.")]


def _secret_box() -> Any:
    settings = get_settings()
    return load_secret_box(settings, embedded=settings.database_url is None)


@connector_app.command("add")
def connector_add(
    tenant: TenantOption,
    type_: Annotated[
        ConnectorType,
        typer.Option("--type", help="webhook, email_smtp, whatsapp_business or telegram_bot."),
    ],
    name: Annotated[str, typer.Option(help="Unique name within the tenant.")],
    url: Annotated[str | None, typer.Option(help="webhook: the URL to POST to.")] = None,
    secret: Annotated[
        str | None, typer.Option(help="webhook: HMAC secret (generated when omitted).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="email_smtp: server host.")] = None,
    port: Annotated[int | None, typer.Option(help="email_smtp: server port.")] = None,
    starttls: Annotated[bool, typer.Option("--starttls", help="email_smtp: STARTTLS.")] = False,
    tls: Annotated[bool, typer.Option("--tls", help="email_smtp: implicit TLS.")] = False,
    username: Annotated[str | None, typer.Option(help="email_smtp: login.")] = None,
    password: Annotated[str | None, typer.Option(help="email_smtp: password.")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="email_smtp: From address.")] = None,
    phone_number_id: Annotated[str | None, typer.Option(help="whatsapp_business.")] = None,
    access_token: Annotated[str | None, typer.Option(help="whatsapp_business.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="whatsapp_business: Cloud API base URL.")
    ] = None,
    template: Annotated[
        str | None, typer.Option(help="whatsapp_business: the approved template's name.")
    ] = None,
    template_language: Annotated[
        str | None, typer.Option(help="whatsapp_business: its language code (en_US, bn).")
    ] = None,
    template_params: Annotated[
        str | None,
        typer.Option(
            help="whatsapp_business: alert fields for its body parameters, in order: "
            + ",".join(TEMPLATE_FIELDS)
            + "."
        ),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a connector; its configuration is stored encrypted."""

    if starttls and tls:
        fail(as_json, "choose --starttls or --tls, not both")
    spec = connector_service.ConnectorSpec(
        type=type_,
        name=name,
        url=url,
        secret=secret,
        host=host,
        port=port,
        security="tls" if tls else "starttls" if starttls else "none",
        username=username,
        password=password,
        sender=sender,
        phone_number_id=phone_number_id,
        access_token=access_token,
        base_url=base_url,
        template=template,
        template_language=template_language,
        template_params=template_params,
    )

    async def work(db: Database, owner: Tenant) -> Reply:
        settings = get_settings()
        view = await connector_service.add_connector(
            db, _secret_box(), owner, spec, allow_private=settings.allow_private_targets
        )
        human = f"Added {type_.value} connector [bold]{view.connector.name}[/] ({view.summary})"
        if view.generated_secret:
            human += (
                f"\nWebhook secret (shown once, verify X-Intrex-Signature with it): "
                f"{view.generated_secret}"
            )
        return Reply(
            {
                "ok": True,
                "id": view.connector.id,
                "name": view.connector.name,
                "type": type_.value,
                "config": view.summary,
                "generated_secret": view.generated_secret,
            },
            human,
        )

    answer_for_tenant(as_json, tenant, work)


@connector_app.command("list")
def connector_list(tenant: TenantOption, as_json: bool = JSON_OPTION) -> None:
    """List connectors with their health: the last 7 days' deliveries, failures and
    success rate, the last success and the last error (secrets are never shown)."""

    async def work(db: Database, owner: Tenant) -> Reply:
        views = await connector_service.list_connectors(db, _secret_box(), owner)
        async with db.tenant_uow(owner.id) as session:
            health = {h.connector_id: h for h in await connector_health(session, now=utc_now())}
        rows = [
            {
                "id": v.connector.id,
                "name": v.connector.name,
                "type": v.connector.type.value,
                "status": v.connector.status.value,
                "consecutive_failures": v.connector.consecutive_failures,
                "last_error": v.last_error,
                "config": v.summary,
                "no_template": _without_template(v),
                "health": _health_json(health.get(v.connector.id), owner.timezone),
            }
            for v in views
        ]
        if not views:
            return Reply({"ok": True, "connectors": rows}, "No connectors.")
        return Reply({"ok": True, "connectors": rows}, _connector_listing(views, health, owner))

    answer_for_tenant(as_json, tenant, work)


def _health_json(health: ConnectorHealth | None, timezone: str) -> dict[str, Any] | None:
    if health is None:
        return None
    return {
        **health.as_json(),
        "last_success_at_local": local_time(health.last_success_at, timezone, never=""),
        "last_error_at_local": local_time(health.last_error_at, timezone, never=""),
    }


COLUMNS = ("name", "type", "status", "health", "attempts 7d", "failed", "success", "last ok")
HEALTH_STYLE = {
    HealthStatus.healthy: "green",
    HealthStatus.degraded: "yellow",
    HealthStatus.failing: "red",
    HealthStatus.idle: "dim",
    HealthStatus.disabled: "dim",
}


def _connector_listing(
    views: list[connector_service.ConnectorView],
    health: dict[uuid.UUID, ConnectorHealth],
    owner: Tenant,
) -> Group:
    """A table of the connectors' health, then each one's configuration and warnings."""
    table = Table(header_style="bold")
    for column in COLUMNS:
        table.add_column(column, overflow="fold" if column == "name" else "ellipsis")
    notes: list[str] = []
    for view in views:
        connector, found = view.connector, health.get(view.connector.id)
        rate = found.success_rate if found else None
        state = found.status if found else None
        table.add_row(
            escape(connector.name),
            connector.type.value,
            connector.status.value,
            f"[{HEALTH_STYLE[state]}]{state.value}[/]" if state else "",
            str(found.deliveries) if found else "",
            str(found.failures) if found else "",
            "" if rate is None else f"{rate:.1%}",
            local_time(found.last_success_at if found else None, owner.timezone),
        )
        name = escape(connector.name)
        notes.append(f"{name}: {escape(str(view.summary))}")
        if _without_template(view):
            notes.append(f"{name}: no template: alerts through it are refused")
        if view.last_error:
            notes.append(f"{name}: last error: {escape(view.last_error)}")
        elif found and found.last_error:
            when = local_time(found.last_error_at, owner.timezone)
            notes.append(f"{name}: last failed delivery {when}: {escape(found.last_error)}")
    return Group(table, *notes)


def _without_template(view: connector_service.ConnectorView) -> bool:
    """A WhatsApp connector added before templates: WhatsApp refuses its alerts."""
    whatsapp = view.connector.type is ConnectorType.whatsapp_business
    return whatsapp and not view.summary.get("template_name")


def _set_status(tenant: str, name: str, status: ConnectorStatus, as_json: bool) -> None:
    async def work(db: Database, owner: Tenant) -> Reply:
        connector = await connector_service.set_connector_status(db, owner, name, status)
        return Reply(
            {"ok": True, "name": connector.name, "status": connector.status.value},
            f"Connector {connector.name} is now {connector.status.value}.",
        )

    answer_for_tenant(as_json, tenant, work)


@connector_app.command("disable")
def connector_disable(
    tenant: TenantOption,
    name: Annotated[str, typer.Option(help="Connector name.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop sending through a connector (pending deliveries through it are cancelled)."""
    _set_status(tenant, name, ConnectorStatus.disabled, as_json)


@connector_app.command("enable")
def connector_enable(
    tenant: TenantOption,
    name: Annotated[str, typer.Option(help="Connector name.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Send through a disabled or failing connector again."""
    _set_status(tenant, name, ConnectorStatus.active, as_json)


@route_app.command("add")
def route_add(
    tenant: TenantOption,
    connector: Annotated[str, typer.Option(help="Connector name.")],
    event_type: Annotated[str, typer.Option(help="An event type, or all.")],
    severity_min: Annotated[str, typer.Option(help="low, medium, high or critical.")],
    recipient: Annotated[
        str,
        typer.Option(
            help="Email, phone (+880…), a user's email or role:<role> for Telegram, - for webhooks."
        ),
    ],
    branch: Annotated[str | None, typer.Option(help="Only this branch's events.")] = None,
    delay_minutes: Annotated[int, typer.Option(help="Escalate after this many minutes.")] = 0,
    level: Annotated[
        int | None, typer.Option(help="Escalation level (default 1, 2 with a delay).")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Route events to a connector and recipient, optionally as an escalation step."""

    async def work(db: Database, owner: Tenant) -> Reply:
        view = await route_service.add_route(
            db,
            owner,
            connector_name=connector,
            event_type=event_type,
            severity_min=severity_min,
            recipient=recipient,
            branch_code=branch,
            delay_minutes=delay_minutes,
            level=level,
        )
        return Reply(
            {"ok": True, **_route_row(view)},
            f"Added route {view.route.id}: {_describe(view)}",
        )

    answer_for_tenant(as_json, tenant, work)


def _route_row(view: route_service.RouteView) -> dict[str, Any]:
    route = view.route
    return {
        "id": route.id,
        "connector": view.connector_name,
        "event_type": route.event_type.value if route.event_type else "all",
        "severity_min": route.severity_min.value,
        "recipient": route.recipient_ref,
        "branch": view.branch_code,
        "level": route.level,
        "delay_minutes": route.delay_minutes,
    }


def _describe(view: route_service.RouteView) -> str:
    row = _route_row(view)
    where = f"branch {row['branch']}" if row["branch"] else "all branches"
    return (
        f"{row['event_type']} ≥ {row['severity_min']} from {where} → {row['connector']} "
        f"({row['recipient']}), level {row['level']} after {row['delay_minutes']} min"
    )


@route_app.command("list")
def route_list(tenant: TenantOption, as_json: bool = JSON_OPTION) -> None:
    """List routes in escalation order."""

    async def work(db: Database, owner: Tenant) -> Reply:
        views = await route_service.list_routes(db, owner)
        human = "\n".join(f"{v.route.id}  {_describe(v)}" for v in views) or "No routes."
        return Reply({"ok": True, "routes": [_route_row(v) for v in views]}, human)

    answer_for_tenant(as_json, tenant, work)


@route_app.command("remove")
def route_remove(
    tenant: TenantOption,
    route_id: Annotated[str, typer.Argument(help="The id shown by `intrex route list`.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a route (events already planned keep their steps)."""

    async def work(db: Database, owner: Tenant) -> Reply:
        await route_service.remove_route(db, owner, route_id)
        return Reply({"ok": True, "removed": route_id}, f"Removed route {route_id}.")

    answer_for_tenant(as_json, tenant, work)


@notify_app.command("test")
def notify_test(
    tenant: TenantOption,
    severity: Annotated[str, typer.Option(help="Severity of the test alert.")] = "high",
    branch: Annotated[str | None, typer.Option(help="Send as this branch's alert.")] = None,
    event_type: Annotated[
        str,
        typer.Option(help="Try the routes of this event type (and those of all types)."),
    ] = NotificationEventType.ssl_failure.value,
    now: Annotated[
        bool,
        typer.Option("--now", help="Send every escalation step at once, not after its delay."),
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Send a test alert through the tenant's routes and report each delivery.

    The event is marked as a test (alert lists leave it out). Level-1 steps are sent now;
    later levels wait their route's delay, for a running worker, unless `--now`.
    """

    with refusals(as_json):
        parsed = parse_severity(severity)
        kind = parse_enum(NotificationEventType, event_type, N_("event type"))
        if kind is NotificationEventType.digest:
            raise Refused("a digest is personal: try another event type")

    async def work(db: Database, owner: Tenant) -> Reply:
        settings = get_settings()
        event, _ = await send_test_event(
            db, owner, severity=parsed, branch_code=branch, event_type=kind, all_now=now
        )
        channels = build_channels(settings)
        try:
            dispatcher = Dispatcher(db, settings, _secret_box(), channels)
            direct = [t for t in ConnectorType if t is not ConnectorType.telegram_bot]
            await dispatcher.run_once(only_event=event.id, types=direct)
        finally:
            await close_channels(channels)
        steps = await _test_steps(db, owner, event)
        zone = ZoneInfo(owner.timezone)
        moment = utc_now()
        rows = [
            {
                "connector": step.connector,
                "connector_type": step.connector_type.value,
                "recipient": step.recipient,
                "recipient_ref": step.step.recipient_ref,
                "level": step.step.level,
                "status": step.step.status.value,
                "error": step.step.last_error,
                "due_at": step.step.next_attempt_at,
                "due_at_local": f"{step.step.next_attempt_at.astimezone(zone):%Y-%m-%d %H:%M}",
            }
            for step in steps
        ]
        if not rows:
            human = "No route matches this alert: add one with `intrex route add`."
        else:
            lines = [
                f"level {s.step.level} → {escape(s.recipient)}: "
                + _outcome(s, event.scheduled_for, moment, zone)
                for s in steps
            ]
            if any(_waiting(s, moment) for s in steps):
                lines.append("Add --now to send every step at once.")
            human = "\n".join(lines)
        failed = not rows or any(r["status"] == NotificationStatus.dead_letter.value for r in rows)
        return Reply(
            {"ok": bool(rows), "event_id": event.id, "is_test": event.is_test, "deliveries": rows},
            human,
            code=1 if failed else 0,
        )

    answer_for_tenant(as_json, tenant, work)


@dataclass(frozen=True)
class _TestStep:
    step: NotificationStep
    connector: str
    connector_type: ConnectorType
    recipient: str


async def _test_steps(db: Database, owner: Tenant, event: NotificationEvent) -> list[_TestStep]:
    """The test event's steps as they stand, each recipient in words; a reference a worker
    already resolved is shown as the people's own steps it became."""
    async with db.tenant_uow(owner.id) as session:
        found = [
            (step, name, kind)
            for step, name, kind in await session.execute(
                select(NotificationStep, Connector.name, Connector.type)
                .join(Connector, Connector.id == NotificationStep.connector_id)
                .where(NotificationStep.notification_event_id == event.id)
                .order_by(
                    NotificationStep.level,
                    NotificationStep.next_attempt_at,
                    NotificationStep.created_at,
                )
            )
            if step.last_error != RESOLVED
        ]
        code = event.payload_json.get("branch_code")
        words = await name_recipients(
            session,
            [
                Addressed(owner.id, step.recipient_ref, name, kind, code)
                for step, name, kind in found
            ],
        )
    return [
        _TestStep(step, name, kind, recipient)
        for (step, name, kind), recipient in zip(found, words, strict=True)
    ]


def _waiting(item: _TestStep, moment: datetime) -> bool:
    pending = (NotificationStatus.queued, NotificationStatus.failed)
    return item.step.status in pending and item.step.next_attempt_at > moment


def _outcome(item: _TestStep, start: datetime, moment: datetime, zone: ZoneInfo) -> str:
    step = item.step
    error = f": {escape(step.last_error)}" if step.last_error else ""
    local = f"{step.next_attempt_at.astimezone(zone):%Y-%m-%d %H:%M}"
    if step.status is NotificationStatus.sent:
        return "[green]delivered[/]"
    if step.status is NotificationStatus.failed:
        return f"[yellow]failed, retried {local} by a running worker[/]{error}"
    if _waiting(item, moment):
        delay = round((step.next_attempt_at - start).total_seconds() / 60)
        return (
            f"due {local} (its route's {delay}-minute delay); a running worker sends it "
            "unless someone acknowledges first"
        )
    if step.status is NotificationStatus.queued:
        if item.connector_type is ConnectorType.telegram_bot:
            return "queued for a running worker (Telegram)"
        return "queued for a running worker"
    return f"[red]{step.status.value}[/]{error}"


@notify_app.command("dead-letters")
def notify_dead_letters(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    retry: Annotated[bool, typer.Option("--retry", help="Queue them again.")] = False,
    event: Annotated[str | None, typer.Option(help="Only this event id.")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List events nobody could be reached for, and why; `--retry` sends them again."""
    event_id = None
    if event is not None:
        try:
            event_id = uuid.UUID(event)
        except ValueError:
            fail(as_json, f"{event!r} is not an event id")

    async def work(db: Database) -> Reply:
        owner = await resolve_tenant(db, tenant) if tenant else None
        if retry:
            count = await retry_dead_letters(db, owner, event_id=event_id)
            return Reply({"ok": True, "requeued": count}, f"Queued {count} event(s) again.")
        letters = [
            letter
            for letter in await list_dead_letters(db, owner)
            if event_id is None or letter.event.id == event_id
        ]
        rows = [
            {
                "event_id": letter.event.id,
                "tenant": letter.tenant_name,
                "event_type": letter.event.event_type.value,
                "severity": letter.event.severity.value,
                "is_test": letter.event.is_test,
                "branch": letter.branch_code,
                "timezone": letter.timezone,
                "created_at": letter.event.created_at.isoformat(),
                "created_at_local": letter.local(letter.event.created_at),
                "reasons": letter.reasons,
                "failures": [
                    {
                        "level": failure.level,
                        "connector": failure.connector,
                        "recipient": failure.recipient,
                        "recipient_ref": failure.recipient_ref,
                        "status": failure.status.value,
                        "reason": failure.reason,
                        "attempts": failure.attempts,
                        "ended_at": failure.ended_at.isoformat(),
                        "ended_at_local": letter.local(failure.ended_at),
                    }
                    for failure in letter.failures
                ],
            }
            for letter in letters
        ]
        human = "\n".join(_dead_letter_lines(letter) for letter in letters)
        return Reply({"ok": True, "dead_letters": rows}, human or "No dead letters.")

    answer_from_database(as_json, work)


def _dead_letter_lines(letter: DeadLetter) -> str:
    event = letter.event
    where = letter.branch_code or "head office"
    test = escape(" [test]") if event.is_test else ""
    head = (
        f"{event.id} {escape(letter.tenant_name)} {event.event_type.value} "
        f"({event.severity.value}, {escape(where)}){test} "
        f"{letter.local(event.created_at)} {letter.timezone}"
    )
    return "\n  ".join([head, *(escape(reason) for reason in letter.reasons)])
