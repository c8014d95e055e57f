"""Routes: which events go to which connector and recipient, at which escalation level."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record, snapshot
from core.db.enums import AppRole, ConnectorType, NotificationEventType, Severity
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, ValidationError
from core.i18n import N_
from core.notify.channels.whatsapp import E164
from core.notify.models import Connector, NotificationRoute
from core.notify.recipients import GROUP_PREFIX, OWNER, ROLE_PREFIX
from core.parsing import parse_enum
from core.tenancy.models import Branch, Tenant, User
from core.tenancy.service import normalise_branch_code
from core.validation import is_email_address

MAX_DELAY_MINUTES = 7 * 24 * 60
ALL_EVENTS = "all"
ROLE_RECIPIENT = re.compile(rf"^{ROLE_PREFIX}([a-z_]+)$")


@dataclass(frozen=True)
class RouteView:
    route: NotificationRoute
    connector_name: str
    connector_type: ConnectorType
    branch_code: str | None


def parse_severity(value: str) -> Severity:
    return parse_enum(Severity, value, N_("severity"))


async def _check_recipient(
    session: AsyncSession, connector_type: ConnectorType, recipient: str
) -> str:
    """The recipient in stored form, refused with a reason when the channel cannot use it."""
    recipient = recipient.strip()
    if connector_type is ConnectorType.webhook:
        if recipient not in ("", "-"):
            raise ValidationError(ErrorCode.route_webhook_recipient)
        return "-"
    if connector_type is ConnectorType.email_smtp:
        if not is_email_address(recipient):
            raise ValidationError(ErrorCode.email_invalid, value=recipient)
        return recipient.lower()
    if connector_type is ConnectorType.whatsapp_business:
        phone = recipient.replace(" ", "")
        if not E164.fullmatch(phone):
            raise ValidationError(ErrorCode.phone_invalid, value=recipient)
        return phone
    role = ROLE_RECIPIENT.fullmatch(recipient)
    if role:
        return f"{ROLE_PREFIX}{parse_enum(AppRole, role.group(1), N_('role')).value}"
    if recipient.lower() == OWNER:
        return OWNER
    if recipient.lower().startswith(GROUP_PREFIX):
        code = normalise_branch_code(recipient[len(GROUP_PREFIX) :])
        if await session.scalar(select(Branch.id).where(Branch.code == code)) is None:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
        return f"{GROUP_PREFIX}{code}"
    user = await session.scalar(select(User.id).where(User.email == recipient.lower()))
    if user is None:
        raise ValidationError(ErrorCode.route_recipient_unknown, value=recipient)
    return recipient.lower()


async def add_route(
    db: Database,
    tenant: Tenant,
    *,
    connector_name: str,
    event_type: str,
    severity_min: str,
    recipient: str,
    branch_code: str | None = None,
    delay_minutes: int = 0,
    level: int | None = None,
    user_id: int | None = None,
) -> RouteView:
    """Add a route; level defaults to 1 without a delay and 2 with one (an escalation)."""
    parsed_type = (
        None
        if event_type.strip().lower() == ALL_EVENTS
        else parse_enum(NotificationEventType, event_type, N_("event type"))
    )
    parsed_severity = parse_severity(severity_min)
    if not 0 <= delay_minutes <= MAX_DELAY_MINUTES:
        raise ValidationError(ErrorCode.route_delay_out_of_range, limit=MAX_DELAY_MINUTES)
    chosen_level = level if level is not None else (1 if delay_minutes == 0 else 2)
    if chosen_level < 1:
        raise ValidationError(ErrorCode.route_level_invalid)
    async with db.tenant_uow(tenant.id) as session:
        connector = await session.scalar(
            select(Connector).where(Connector.name == connector_name.strip())
        )
        if connector is None:
            raise NotFoundError(ErrorCode.connector_not_found, name=connector_name.strip())
        branch = None
        if branch_code:
            code = normalise_branch_code(branch_code)
            branch = await session.scalar(select(Branch).where(Branch.code == code))
            if branch is None:
                raise NotFoundError(ErrorCode.branch_not_found, code=code)
        route = NotificationRoute(
            tenant_id=tenant.id,
            branch_id=branch.id if branch else None,
            connector_id=connector.id,
            event_type=parsed_type,
            severity_min=parsed_severity,
            recipient_ref=await _check_recipient(session, connector.type, recipient),
            delay_minutes=delay_minutes,
            level=chosen_level,
        )
        await add_recorded(
            session,
            route,
            tenant_id=tenant.id,
            action="route.add",
            entity_type="notification_route",
            user_id=user_id,
        )
    return RouteView(route, connector.name, connector.type, branch.code if branch else None)


async def list_routes(db: Database, tenant: Tenant) -> list[RouteView]:
    async with db.tenant_uow(tenant.id) as session:
        rows = await session.execute(
            select(NotificationRoute, Connector.name, Connector.type, Branch.code)
            .join(Connector, Connector.id == NotificationRoute.connector_id)
            .outerjoin(Branch, Branch.id == NotificationRoute.branch_id)
            .order_by(NotificationRoute.level, NotificationRoute.delay_minutes, Connector.name)
        )
        return [RouteView(route, name, ctype, code) for route, name, ctype, code in rows]


async def remove_route(
    db: Database, tenant: Tenant, route_id: str, *, user_id: int | None = None
) -> None:
    try:
        parsed = uuid.UUID(route_id.strip())
    except ValueError as exc:
        raise ValidationError(ErrorCode.route_id_invalid, value=route_id.strip()) from exc
    async with db.tenant_uow(tenant.id) as session:
        route = await session.get(NotificationRoute, parsed)
        if route is None:
            raise NotFoundError(ErrorCode.route_not_found, route_id=str(parsed))
        before = snapshot(route)
        await session.delete(route)
        await record(
            session,
            tenant_id=tenant.id,
            action="route.remove",
            entity_type="notification_route",
            entity_id=parsed,
            before=before,
            user_id=user_id,
        )
