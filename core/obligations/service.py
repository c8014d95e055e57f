"""Obligation actions for the bot and the CLI: list, details, complete, waive, reopen, templates.

Each function is one unit of work on the tenant path (row-level security on) and takes the
acting user: the user and their branches are re-read inside the transaction, and an id
from outside (callback data) is looked up within those branches only. Every change writes
its `activity_logs` row in the same transaction.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record, record_update, snapshot
from core.clock import utc_now
from core.db.enums import (
    NotificationStatus,
    ObligationCategory,
    ObligationStatus,
    Severity,
)
from core.db.session import Database
from core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from core.notify.models import NotificationEvent
from core.obligations.access import not_found, require_manager
from core.obligations.clock import reminder_fingerprint_prefix
from core.obligations.generation import (
    DEFAULT_HORIZON_MONTHS,
    continue_series,
    generate_instances,
)
from core.obligations.models import (
    DEFAULT_REMINDER_LEAD_DAYS,
    MAX_REMINDER_LEAD_DAYS,
    Jurisdiction,
    ObligationDocument,
    ObligationInstance,
    ObligationTemplate,
)
from core.obligations.recurrence import Recurrence
from core.obligations.schedule import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    status_for,
    tenant_today,
)
from core.obligations.views import (
    DocumentView,
    ObligationDetails,
    ObligationPage,
    ObligationView,
    Window,
    to_view,
    view_select,
)
from core.tenancy.models import Branch, Tenant, User
from core.tenancy.scope import Actor, load_actor

MAX_PAGE_SIZE = 50
MAX_WAIVE_REASON = 1000


def parse_instance_id(value: uuid.UUID | str) -> uuid.UUID:
    """An instance id from untrusted input; anything malformed is simply not found."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError) as exc:
        raise not_found() from exc


def parse_window(value: str | None) -> Window:
    try:
        return Window((value or Window.all.value).strip().lower())
    except ValueError as exc:
        raise ValidationError(f"unknown filter {value!r}: use overdue, today, week or all") from exc


async def _view(session: AsyncSession, instance_id: uuid.UUID, today: date) -> ObligationView:
    row = (await session.execute(view_select().where(ObligationInstance.id == instance_id))).one()
    return to_view(row, today)


async def _instance_in_scope(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID, *, lock: bool = False
) -> tuple[ObligationInstance, ObligationTemplate]:
    query = select(ObligationInstance).where(ObligationInstance.id == instance_id)
    if lock:
        query = query.with_for_update()
    instance = await session.scalar(query)
    if (
        instance is None
        or instance.tenant_id != actor.tenant_id
        or not actor.covers(instance.branch_id)
    ):
        raise not_found()
    template = await session.get(ObligationTemplate, instance.template_id)
    if template is None:
        raise not_found()
    return instance, template


UNDELIVERED_STATUSES = (
    NotificationStatus.queued,
    NotificationStatus.processing,
    NotificationStatus.failed,
    NotificationStatus.dead_letter,
)
"""Reminders not (yet) delivered: waiting, in flight, retrying, or stuck without a route."""


async def cancel_pending_reminders(session: AsyncSession, instance: ObligationInstance) -> int:
    """Cancel this instance's undelivered reminders; returns how many.

    The dispatcher drops the planned deliveries of a cancelled event when it next claims
    them; reminders already delivered stay as history.
    """
    due_prefix, overdue = reminder_fingerprint_prefix(instance.id)
    result = await session.execute(
        update(NotificationEvent)
        .where(
            NotificationEvent.tenant_id == instance.tenant_id,
            NotificationEvent.status.in_(UNDELIVERED_STATUSES),
            or_(
                NotificationEvent.fingerprint.startswith(due_prefix, autoescape=True),
                NotificationEvent.fingerprint == overdue,
            ),
        )
        .values(status=NotificationStatus.cancelled)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _page_bounds(page: int, page_size: int) -> tuple[int, int]:
    if page < 0:
        raise ValidationError("page must not be negative")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
    return page * page_size, page_size


async def list_open_obligations(
    db: Database,
    user: User,
    *,
    window: Window = Window.all,
    branch_id: uuid.UUID | None = None,
    page: int = 0,
    page_size: int = 10,
    now: datetime | None = None,
) -> ObligationPage:
    """Open obligations in the user's scope, overdue first then by due date, one page.

    Every chat's `/obligations` and page button lands here, so it is the lean path: Core
    statements built once, on a tenant connection rather than an ORM session, and two
    statements in all (the actor with the tenant's today, then the page).
    """
    offset, size = _page_bounds(page, page_size)
    async with db.tenant_connection(user.tenant_id) as connection:
        actor = await load_actor(connection, user, now=now)
        if branch_id is not None and not actor.covers(branch_id):
            raise NotFoundError("No such branch in your scope.")
        scope: Sequence[uuid.UUID] | None = (
            [branch_id]
            if branch_id is not None
            else (sorted(actor.branch_ids) if actor.branch_ids is not None else None)
        )
        if scope is not None and not scope:
            return ObligationPage(items=[], page=page, page_size=size, has_more=False)
        statement, values = open_obligations_page(
            actor.tenant_id, actor.today, window, scope, offset, size + 1
        )
        rows = await connection.execute(statement, values)
        items = [to_view(row, actor.today) for row in rows]
    return ObligationPage(items=items[:size], page=page, page_size=size, has_more=len(items) > size)


@functools.cache
def _page_statement(window: Window, scoped: bool) -> Any:
    """The dashboard query for one window, with or without a branch list, built once.

    Order is due date then id, which is overdue first: an open item is overdue exactly
    when its date is before the tenant's today. One ordered scan of a partial index of
    open instances, (tenant_id, due_at) tenant-wide or (tenant_id, branch_id, due_at) for
    some branches, stops at the page; only the page's rows are joined to their template
    and branch.

    The open statuses, the limit and the offset are written into the SQL rather than sent
    as parameters: only then can PostgreSQL's generic plan for the prepared statement
    prove the partial index's predicate and stop the scan at the page, so the plan is
    made once per connection instead of at every page (0.2 ms instead of 1.2 ms a page).
    """
    conditions: list[Any] = [
        ObligationInstance.tenant_id == bindparam("tenant_id"),
        ObligationInstance.status.in_(
            bindparam("open", list(OPEN_STATUSES), expanding=True, literal_execute=True)
        ),
    ]
    if scoped:
        conditions.append(ObligationInstance.branch_id.in_(bindparam("branch_ids", expanding=True)))
    if window is Window.overdue:
        conditions.append(ObligationInstance.due_at < bindparam("today"))
    elif window is Window.today:
        conditions.append(ObligationInstance.due_at == bindparam("today"))
    elif window is Window.week:
        conditions.append(ObligationInstance.due_at <= bindparam("week_end"))
    page = (
        select(ObligationInstance.id, ObligationInstance.due_at)
        .where(*conditions)
        .order_by(ObligationInstance.due_at, ObligationInstance.id)
        .offset(bindparam("offset", type_=Integer, literal_execute=True))
        .limit(bindparam("limit", type_=Integer, literal_execute=True))
        .subquery("page")
    )
    return (
        view_select()
        .join(page, page.c.id == ObligationInstance.id)
        .order_by(page.c.due_at, page.c.id)
    )


def open_obligations_page(
    tenant_id: uuid.UUID,
    today: date,
    window: Window,
    branch_ids: Sequence[uuid.UUID] | None,
    offset: int,
    limit: int,
) -> tuple[Any, dict[str, Any]]:
    """The dashboard query and its values (the benchmarks print its plan and run its SQL)."""
    values: dict[str, Any] = {"tenant_id": tenant_id, "offset": offset, "limit": limit}
    if branch_ids is not None:
        values["branch_ids"] = list(branch_ids)
    if window in (Window.overdue, Window.today):
        values["today"] = today
    elif window is Window.week:
        values["week_end"] = today + timedelta(days=7)
    return _page_statement(window, branch_ids is not None), values


async def obligation_details(
    db: Database, user: User, instance_id: uuid.UUID | str, *, now: datetime | None = None
) -> ObligationDetails:
    parsed = parse_instance_id(instance_id)
    async with db.tenant_uow(user.tenant_id) as session:
        actor = await load_actor(session, user, now=now)
        instance, template = await _instance_in_scope(session, actor, parsed)
        today = actor.today
        view = await _view(session, instance.id, today)
        documents = await session.scalars(
            select(ObligationDocument)
            .where(ObligationDocument.obligation_instance_id == instance.id)
            .order_by(ObligationDocument.created_at)
        )
        document_views = [
            DocumentView(
                id=d.id,
                filename=d.filename,
                mime_type=d.mime_type,
                size_bytes=d.size_bytes,
                sha256=d.sha256,
                uploaded_by_user_id=d.uploaded_by_user_id,
                created_at=d.created_at,
            )
            for d in documents
        ]
    is_open = instance.status not in CLOSED_STATUSES
    return ObligationDetails(
        obligation=view,
        documents=document_views,
        can_complete=is_open and (not template.proof_required or bool(document_views)),
        can_waive=is_open and actor.manages,
        can_reopen=not is_open and actor.manages,
    )


@dataclass(frozen=True)
class ActionResult:
    """An obligation after an action, and the series' next one when the series goes on."""

    obligation: ObligationView
    next_obligation: ObligationView | None
    cancelled_reminders: int


def _refuse_closed(instance: ObligationInstance) -> None:
    if instance.status is ObligationStatus.completed and instance.completed_at is not None:
        raise ConflictError(
            f"This obligation was already completed on {instance.completed_at:%Y-%m-%d}."
        )
    if instance.status in CLOSED_STATUSES:
        raise ConflictError(f"This obligation is already {instance.status.value}.")


async def _close(
    session: AsyncSession,
    actor: Actor,
    instance: ObligationInstance,
    template: ObligationTemplate,
    *,
    action: str,
    before: dict[str, Any],
) -> ActionResult:
    """The common tail of complete and waive: cancel reminders, continue the series, audit."""
    instance.next_reminder_on = None
    today = actor.today
    cancelled = await cancel_pending_reminders(session, instance)
    following = await continue_series(session, instance, template, today)
    await session.flush()
    after = snapshot(instance)
    after["cancelled_reminders"] = cancelled
    after["next_instance_id"] = str(following.id) if following else None
    await record(
        session,
        tenant_id=actor.tenant_id,
        action=action,
        entity_type="obligation_instance",
        entity_id=instance.id,
        before=before,
        after=after,
        user_id=actor.user_id,
    )
    return ActionResult(
        obligation=await _view(session, instance.id, today),
        next_obligation=await _view(session, following.id, today) if following else None,
        cancelled_reminders=cancelled,
    )


async def complete_obligation(
    db: Database, user: User, instance_id: uuid.UUID | str, *, now: datetime | None = None
) -> ActionResult:
    """Mark done (keeping when and by whom); refused while required proof is missing."""
    parsed = parse_instance_id(instance_id)
    moment = utc_now(now)
    async with db.tenant_uow(user.tenant_id) as session:
        actor = await load_actor(session, user, now=moment)
        instance, template = await _instance_in_scope(session, actor, parsed, lock=True)
        _refuse_closed(instance)
        if template.proof_required:
            documents = await session.scalar(
                select(func.count()).where(ObligationDocument.obligation_instance_id == instance.id)
            )
            if not documents:
                raise ValidationError(
                    f"“{template.title}” needs proof before it can be completed: "
                    "upload a document or photo first."
                )
        before = snapshot(instance)
        instance.status = ObligationStatus.completed
        instance.completed_at = moment
        instance.completed_by_user_id = actor.user_id
        return await _close(
            session,
            actor,
            instance,
            template,
            action="obligation.complete",
            before=before,
        )


async def waive_obligation(
    db: Database,
    user: User,
    instance_id: uuid.UUID | str,
    reason: str,
    *,
    now: datetime | None = None,
) -> ActionResult:
    """Excuse an obligation (managers and admins only, with a reason kept on the row)."""
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise ValidationError("A reason is required to waive an obligation.")
    if len(cleaned) > MAX_WAIVE_REASON:
        raise ValidationError(f"The reason is longer than {MAX_WAIVE_REASON} characters.")
    parsed = parse_instance_id(instance_id)
    moment = utc_now(now)
    async with db.tenant_uow(user.tenant_id) as session:
        actor = await load_actor(session, user, now=moment)
        instance, template = await _instance_in_scope(session, actor, parsed, lock=True)
        require_manager(actor, "waive")
        _refuse_closed(instance)
        before = snapshot(instance)
        instance.status = ObligationStatus.waived
        instance.waived_at = moment
        instance.waived_by_user_id = actor.user_id
        instance.waive_reason = cleaned
        return await _close(
            session,
            actor,
            instance,
            template,
            action="obligation.waive",
            before=before,
        )


async def reopen_obligation(
    db: Database, user: User, instance_id: uuid.UUID | str, *, now: datetime | None = None
) -> ObligationView:
    """Undo a completion or waiver (managers and admins); the status follows the date again.

    Its reminders are looked at again on the clock's next run; levels already sent are not
    sent twice (their fingerprints are kept).
    """
    parsed = parse_instance_id(instance_id)
    moment = utc_now(now)
    async with db.tenant_uow(user.tenant_id) as session:
        actor = await load_actor(session, user, now=moment)
        instance, _ = await _instance_in_scope(session, actor, parsed, lock=True)
        require_manager(actor, "reopen")
        if instance.status not in CLOSED_STATUSES:
            raise ConflictError("This obligation is open already.")
        today = actor.today
        before = snapshot(instance)
        instance.status = status_for(instance.due_at, today)
        instance.completed_at = None
        instance.completed_by_user_id = None
        instance.waived_at = None
        instance.waived_by_user_id = None
        instance.waive_reason = None
        instance.next_reminder_on = today
        await record_update(
            session,
            instance,
            before,
            tenant_id=actor.tenant_id,
            action="obligation.reopen",
            entity_type="obligation_instance",
            user_id=actor.user_id,
        )
        return await _view(session, instance.id, today)


def normalise_lead_days(values: Sequence[int]) -> list[int]:
    leads = sorted(set(values), reverse=True)
    if any(lead < 0 or lead > MAX_REMINDER_LEAD_DAYS for lead in leads):
        raise ValidationError(f"reminder lead days must be between 0 and {MAX_REMINDER_LEAD_DAYS}")
    return leads


@dataclass(frozen=True)
class TemplateSpec:
    """What a new obligation template says (validated by `create_template`)."""

    category: ObligationCategory
    title: str
    recurrence: Recurrence
    severity: Severity
    anchor_date: date
    proof_required: bool = False
    reminder_lead_days: tuple[int, ...] = DEFAULT_REMINDER_LEAD_DAYS
    jurisdiction_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = None
    description: str | None = None


@dataclass(frozen=True)
class TemplateResult:
    template: ObligationTemplate
    instances_created: int


def clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValidationError("the title must not be empty")
    if len(cleaned) > 300:
        raise ValidationError("the title is longer than 300 characters")
    return cleaned


async def create_template(
    db: Database,
    tenant: Tenant,
    spec: TemplateSpec,
    *,
    created_by_user_id: int | None = None,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    now: datetime | None = None,
) -> TemplateResult:
    """Create a template and its instances for every applicable branch up to the horizon."""
    if spec.jurisdiction_id is not None and spec.branch_id is not None:
        raise ValidationError("a template applies to a jurisdiction or to one branch, not both")
    template = ObligationTemplate(
        tenant_id=tenant.id,
        jurisdiction_id=spec.jurisdiction_id,
        branch_id=spec.branch_id,
        category=spec.category,
        title=clean_title(spec.title),
        recurrence_type=spec.recurrence.value,
        severity=spec.severity,
        proof_required=spec.proof_required,
        anchor_date=spec.anchor_date,
        reminder_lead_days=normalise_lead_days(spec.reminder_lead_days),
        description=(spec.description or "").strip() or None,
    )
    async with db.tenant_uow(tenant.id) as session:
        if spec.jurisdiction_id is not None and (
            await session.get(Jurisdiction, spec.jurisdiction_id) is None
        ):
            raise NotFoundError(f"no jurisdiction {spec.jurisdiction_id}")
        if spec.branch_id is not None and await session.get(Branch, spec.branch_id) is None:
            raise NotFoundError(f"tenant {tenant.name} has no branch {spec.branch_id}")
        await add_recorded(
            session,
            template,
            tenant_id=tenant.id,
            action="obligation_template.create",
            entity_type="obligation_template",
            user_id=created_by_user_id,
        )
        today = await tenant_today(session, tenant.id, utc_now(now))
        created = await generate_instances(
            session,
            tenant_id=tenant.id,
            today=today,
            horizon_months=horizon_months,
            template_ids=[template.id],
            with_anchor=True,
        )
    return TemplateResult(template=template, instances_created=created)


async def create_jurisdiction(
    db: Database,
    *,
    country_code: str,
    label: str,
    region: str | None = None,
    district: str | None = None,
    city_corporation: str | None = None,
) -> Jurisdiction:
    """Add shared reference data (the system path: request roles may only read it)."""
    code = country_code.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValidationError(f"{country_code!r} is not a two-letter country code")
    jurisdiction = Jurisdiction(
        country_code=code,
        label=label.strip() or code,
        region=(region or "").strip() or None,
        district=(district or "").strip() or None,
        city_corporation=(city_corporation or "").strip() or None,
    )
    async with db.system_uow() as session:
        session.add(jurisdiction)
        await session.flush()
    return jurisdiction


@dataclass(frozen=True)
class AdminListing:
    items: list[ObligationView]
    total: int


def parse_status(value: str) -> ObligationStatus:
    try:
        return ObligationStatus(value.strip().lower())
    except ValueError as exc:
        choices = ", ".join(member.value for member in ObligationStatus)
        raise ValidationError(f"unknown status {value!r}: choose one of {choices}") from exc


async def list_obligations_for_admin(
    db: Database,
    tenant: Tenant,
    *,
    branch_code: str | None = None,
    status: ObligationStatus | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> AdminListing:
    """The CLI's listing: any status, one branch or all, overdue first then by due date."""
    if limit < 1:
        raise ValidationError("the limit must be at least 1")
    async with db.tenant_uow(tenant.id) as session:
        today = await tenant_today(session, tenant.id, utc_now(now))
        conditions: list[Any] = [ObligationInstance.tenant_id == tenant.id]
        if branch_code is not None:
            from core.tenancy.service import normalise_branch_code

            code = normalise_branch_code(branch_code)
            branch = await session.scalar(select(Branch).where(Branch.code == code))
            if branch is None:
                raise NotFoundError(f"tenant {tenant.name} has no branch {code}")
            conditions.append(ObligationInstance.branch_id == branch.id)
        if status is not None:
            conditions.append(ObligationInstance.status == status)
        total = await session.scalar(select(func.count()).where(*conditions)) or 0
        open_first = ObligationInstance.status.in_(OPEN_STATUSES).desc()
        rows = await session.execute(
            view_select()
            .where(*conditions)
            .order_by(open_first, ObligationInstance.due_at, ObligationInstance.id)
            .limit(limit)
        )
        items = [to_view(row, today) for row in rows]
    return AdminListing(items=items, total=int(total))


__all__ = [
    "ActionResult",
    "AdminListing",
    "PermissionDeniedError",
    "TemplateResult",
    "TemplateSpec",
    "cancel_pending_reminders",
    "complete_obligation",
    "create_jurisdiction",
    "create_template",
    "list_obligations_for_admin",
    "list_open_obligations",
    "obligation_details",
    "open_obligations_page",
    "parse_instance_id",
    "parse_status",
    "parse_window",
    "reopen_obligation",
    "waive_obligation",
]
