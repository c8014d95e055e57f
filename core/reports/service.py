"""The report (SPEC §7): each branch's health score, ranked worst first, and what is behind it.

`build_report` answers for the actor's scope (head office: the company; a branch manager:
their branches; one branch when a code is given) with a fixed handful of statements, each
an aggregate grouped in PostgreSQL or a bounded list, whatever the number of branches: no
statement runs per branch. Obligations are read through the partial indexes of open
instances (due on or before the end of the due-soon window), waivers through
`ix_obligation_instances_waived` (migration 0014); under row-level security the open
statuses are written into the SQL so the planner can prove those indexes' predicates
(`core.obligations.queries` explains why).

"Overdue" and "due soon" are decided by the due date against the tenant's today, as the
obligation views do, so the report is right even before the clock has moved the statuses.
The report is data: the edges (the bot, the command line) word it for their reader.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Date, and_, bindparam, case, func, literal, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.db.enums import (
    FAILING_CHECKS,
    OPEN_ALERT,
    OPEN_OBLIGATION,
    BranchStatus,
    NotificationEventType,
    ObligationCategory,
    ObligationStatus,
    Severity,
    SslCheckStatus,
)
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError
from core.notify.alerts import AlertView
from core.notify.health import ConnectorHealth, connector_health
from core.notify.models import NotificationEvent
from core.obligations.models import ObligationInstance
from core.reports.health import (
    DAYS_LATE_CAP,
    DUE_SOON_DAYS,
    HealthBand,
    HealthFacts,
    band,
    health_score,
)
from core.reports.policy import can_view_report
from core.ssl.models import Domain, SslCheckResult
from core.tenancy.models import Branch, User
from core.tenancy.names import person_name
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

LIST_LIMIT = 20
"""Items kept on each list (overdue, due soon, certificates, waivers); totals count them all."""
ALERTS_LIMIT = 5
WAIVER_DAYS = 30
CERTIFICATES_AT_RISK = (*FAILING_CHECKS, SslCheckStatus.warning)
"""Expired, failing their check, or expiring soon; `ok` and never checked are not at risk."""

SEVERITY_RANK = case(
    *(
        (ObligationInstance.severity == severity, rank)
        for rank, severity in enumerate(
            (Severity.critical, Severity.high, Severity.medium, Severity.low)
        )
    ),
)
CERTIFICATE_RANK = case(
    (Domain.status == SslCheckStatus.expired, 0),
    (Domain.status == SslCheckStatus.warning, 2),
    else_=1,
)
"""Expired first, then failing, then expiring soon."""

SEVERITY_LIST = list(Severity)
ACTIVE = BranchStatus.active.value
T = TypeVar("T")
_Key = tuple[str, Any, bool]
"""An ordering key of a list: its name, its expression, descending."""


@dataclass(frozen=True)
class Bounded(Generic[T]):
    """The first items of a list and how many there are in all."""

    items: list[T]
    total: int


@dataclass(frozen=True)
class BranchHealth:
    """One row of the ranking."""

    branch_id: uuid.UUID
    code: str
    name: str
    active: bool
    score: int
    band: HealthBand
    facts: HealthFacts

    def as_dict(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "code": self.code,
            "name": self.name,
            "active": self.active,
            "score": self.score,
            "band": self.band.value,
            "overdue": facts.overdue_total,
            "overdue_by_severity": {s.value: facts.overdue.get(s, 0) for s in Severity},
            "days_late_by_severity": {s.value: facts.days_late.get(s, 0) for s in Severity},
            "due_soon": facts.due_soon,
            "certificates_expired": facts.certificates_expired,
            "certificates_failing": facts.certificates_failing,
            "certificates_expiring": facts.certificates_expiring,
        }


@dataclass(frozen=True)
class CategoryTotals:
    category: ObligationCategory
    overdue: int = 0
    due_soon: int = 0
    waived: int = 0
    """Waived in the last `WAIVER_DAYS` days."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "overdue": self.overdue,
            "due_soon": self.due_soon,
            "waived": self.waived,
        }


@dataclass(frozen=True)
class ReportItem:
    """An obligation on the overdue or the due-soon list."""

    id: uuid.UUID
    branch_code: str
    title: str
    category: ObligationCategory
    severity: Severity
    due_at: date
    days_left: int
    """Negative: days late."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "branch_code": self.branch_code,
            "title": self.title,
            "category": self.category.value,
            "severity": self.severity.value,
            "due_at": self.due_at.isoformat(),
            "days_left": self.days_left,
        }


@dataclass(frozen=True)
class CertificateAtRisk:
    domain_id: uuid.UUID
    hostname: str
    port: int
    branch_code: str | None
    """None: head office's."""
    status: SslCheckStatus
    days_remaining: int | None
    """From the latest check; None when it read no certificate."""
    last_checked_at: datetime | None

    @property
    def target(self) -> str:
        return self.hostname if self.port == 443 else f"{self.hostname}:{self.port}"

    @property
    def expired(self) -> bool:
        return self.status is SslCheckStatus.expired

    def as_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "port": self.port,
            "branch_code": self.branch_code,
            "status": self.status.value,
            "days_remaining": self.days_remaining,
            "last_checked_at": self.last_checked_at.isoformat() if self.last_checked_at else None,
        }


@dataclass(frozen=True)
class Waiver:
    id: uuid.UUID
    branch_code: str
    title: str
    category: ObligationCategory
    severity: Severity
    due_at: date
    waived_at: datetime
    reason: str | None
    waived_by: str | None
    """How the person is named (`names.person_name`); None: the command line waived it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "branch_code": self.branch_code,
            "title": self.title,
            "category": self.category.value,
            "severity": self.severity.value,
            "due_at": self.due_at.isoformat(),
            "waived_at": self.waived_at.isoformat(),
            "reason": self.reason,
            "waived_by": self.waived_by,
        }


def _alert_dict(alert: AlertView) -> dict[str, Any]:
    return {
        "id": str(alert.event_id),
        "event_type": alert.event_type.value,
        "severity": alert.severity.value,
        "branch_code": alert.branch_code,
        "created_at": alert.created_at.isoformat(),
        "payload": alert.payload,
    }


@dataclass(frozen=True)
class Report:
    """The state of the actor's scope on `today` (the tenant's date)."""

    today: date
    timezone: str
    generated_at: datetime
    branch_code: str | None
    """The one branch asked for; None: every branch in scope."""
    branches: list[BranchHealth]
    """Worst first: by score, then by code."""
    categories: list[CategoryTotals]
    overdue: Bounded[ReportItem]
    """Most severe first, then longest overdue."""
    due_soon: Bounded[ReportItem]
    """Due today or within `DUE_SOON_DAYS` days, soonest first."""
    certificates: Bounded[CertificateAtRisk]
    """Expired, then failing, then expiring soon; each soonest to expire first."""
    alerts: Bounded[AlertView]
    """Unacknowledged alerts (not digests, not tests), latest first."""
    waivers: Bounded[Waiver]
    """Waived in the last `WAIVER_DAYS` days, latest first."""
    connectors: list[ConnectorHealth] = field(default_factory=list)
    """Head office's company report only: each connector's deliveries over the last 7 days."""
    due_soon_days: int = DUE_SOON_DAYS
    waiver_days: int = WAIVER_DAYS

    def worst(self, count: int) -> list[BranchHealth]:
        return self.branches[:count]

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "timezone": self.timezone,
            "generated_at": self.generated_at.isoformat(),
            "branch": self.branch_code,
            "due_soon_days": self.due_soon_days,
            "waiver_days": self.waiver_days,
            "branches": [row.as_dict() for row in self.branches],
            "categories": [totals.as_dict() for totals in self.categories],
            "overdue": {
                "total": self.overdue.total,
                "items": [item.as_dict() for item in self.overdue.items],
            },
            "due_soon": {
                "total": self.due_soon.total,
                "items": [item.as_dict() for item in self.due_soon.items],
            },
            "certificates_at_risk": {
                "total": self.certificates.total,
                "items": [item.as_dict() for item in self.certificates.items],
            },
            "unacknowledged_alerts": {
                "total": self.alerts.total,
                "items": [_alert_dict(alert) for alert in self.alerts.items],
            },
            "waivers": {
                "total": self.waivers.total,
                "items": [waiver.as_dict() for waiver in self.waivers.items],
            },
            "connectors": [
                {"name": health.name, "type": health.type.value, **health.as_json()}
                for health in self.connectors
            ],
        }


async def build_report(
    session: AsyncSession,
    actor: Actor,
    *,
    branch_code: str | None = None,
    now: datetime | None = None,
) -> Report:
    """The report of the actor's scope, or of one branch in it (`branch_code`).

    Operators are refused (`policy.can_view_report`). A code that names no branch is
    refused as unknown to head office; to a manager, one that is not theirs (or does not
    exist) is simply not in their scope, so the answer does not tell which.
    """
    if not can_view_report(actor):
        raise PermissionDeniedError(ErrorCode.managers_only)
    moment = utc_now(now)
    window = await _window(session, actor, branch_code)
    async with _serial_plans(session):
        return await _report(session, actor, window, moment)


@dataclass(frozen=True)
class Overview:
    """The dashboard's first page: the report's branches and totals, without its lists."""

    branches: list[BranchHealth]
    overdue: int
    due_soon: int
    certificates: int
    alerts: int


async def build_overview(session: AsyncSession, actor: Actor) -> Overview:
    """The branches by health and the four totals of the actor's scope, as the report counts
    them, without the report's lists, categories, waivers and connectors (the dashboard
    shows those on their own pages)."""
    if not can_view_report(actor):
        raise PermissionDeniedError(ErrorCode.managers_only)
    window = await _window(session, actor, None)
    async with _serial_plans(session):
        branches = await _branches(session, window)
        certificates = await _certificates(session, window)
        alerts = await _alerts(session, window)
    return Overview(
        branches=branches,
        overdue=sum(row.facts.overdue_total for row in branches),
        due_soon=sum(row.facts.due_soon for row in branches),
        certificates=certificates.total,
        alerts=alerts.total,
    )


@asynccontextmanager
async def _serial_plans(session: AsyncSession) -> AsyncIterator[None]:
    """No parallel workers for the report's statements, the caller's setting back after.

    Each statement reads a few thousand index entries, but under row-level security the
    planner may not use the statistics of `status` (enum equality is not leakproof), so it
    expects a large share of the table and plans parallel workers, whose start-up cost
    more than the scan itself (20 ms against 2 ms on two cores).
    """
    previous = await session.scalar(
        text(
            "SELECT current_setting('max_parallel_workers_per_gather'), "
            "set_config('max_parallel_workers_per_gather', '0', true)"
        )
    )
    try:
        yield
    finally:
        await session.execute(
            text("SELECT set_config('max_parallel_workers_per_gather', :value, true)"),
            {"value": previous},
        )


async def _report(session: AsyncSession, actor: Actor, window: _Window, moment: datetime) -> Report:
    branches = await _branches(session, window)
    categories = await _categories(session, window, moment)
    waivers = await _waivers(session, window, moment, sum(c.waived for c in categories))
    return Report(
        today=actor.today,
        timezone=actor.timezone,
        generated_at=moment,
        branch_code=window.branch_code,
        branches=branches,
        categories=categories,
        overdue=Bounded(
            await _overdue(session, window), sum(row.facts.overdue_total for row in branches)
        ),
        due_soon=Bounded(
            await _due_soon(session, window), sum(row.facts.due_soon for row in branches)
        ),
        certificates=await _certificates(session, window),
        alerts=await _alerts(session, window),
        waivers=waivers,
        connectors=(
            await connector_health(session, now=moment)
            if actor.role.head_office and window.branch_code is None
            else []
        ),
    )


async def _window(session: AsyncSession, actor: Actor, branch_code: str | None) -> _Window:
    """The actor's scope, or the one branch of it that `branch_code` names."""
    if branch_code is None:
        scope = None if actor.branch_ids is None else sorted(actor.branch_ids)
        return _Window(actor.tenant_id, actor.today, scope)
    code = normalise_branch_code(branch_code)
    branch_id = await session.scalar(select(Branch.id).where(Branch.code == code))
    if branch_id is None or not actor.covers(branch_id):
        if actor.role.head_office:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
        raise NotFoundError(ErrorCode.branch_not_in_scope)
    return _Window(actor.tenant_id, actor.today, [branch_id], code)


@dataclass(frozen=True)
class _Window:
    """What every statement of one report shares: tenant, dates, branch scope."""

    tenant_id: uuid.UUID
    today: date
    scope: Sequence[uuid.UUID] | None
    """The branch ids covered; None: the whole company, head office's rows too."""
    branch_code: str | None = None
    """The one branch asked for, if one was."""
    due_soon_end: date = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_soon_end", self.today + timedelta(days=DUE_SOON_DAYS))

    def in_scope(self, column: Any) -> ColumnElement[bool]:
        """`column` (a branch id) in scope; the whole company (None) lets every row through,
        those of no branch too."""
        return true() if self.scope is None else column.in_(list(self.scope))

    def open_until_soon(self) -> list[ColumnElement[bool]]:
        """Open instances of the scope due on or before the due-soon window's last day."""
        instance = ObligationInstance
        return [
            instance.tenant_id == self.tenant_id,
            instance.status.in_(_written_status(list(OPEN_OBLIGATION))),
            instance.due_at <= self.due_soon_end,
            self.in_scope(instance.branch_id),
        ]


def _written_status(value: Any) -> Any:
    """A status (or a list of them) written into the SQL: only then does a prepared
    statement's generic plan prove a partial index's predicate
    (`core.obligations.queries._page_statement`)."""
    return bindparam(
        "status",
        value,
        expanding=isinstance(value, list),
        literal_execute=True,
        unique=True,
        type_=ObligationInstance.status.type,
    )


async def _branches(session: AsyncSession, window: _Window) -> list[BranchHealth]:
    """Every branch in scope with its facts and score, worst first."""
    connection = await session.connection()
    ranked = [_branch_health(row) for row in await connection.execute(_branches_statement(window))]
    ranked.sort(key=lambda row: (row.score, row.code))
    return ranked


def _branches_statement(window: _Window) -> Any:
    """One statement: open obligations and at-risk certificates grouped by branch, joined
    to the branches of the scope (a branch with nothing open has zeros)."""
    instance = ObligationInstance
    today = literal(window.today, Date)
    overdue = instance.due_at < today
    days_late = func.least(today - instance.due_at, DAYS_LATE_CAP)
    columns: list[Any] = [instance.branch_id]
    for severity in SEVERITY_LIST:
        columns.append(
            func.count().filter(and_(overdue, instance.severity == severity)).label(f"n_{severity}")
        )
        columns.append(
            func.sum(days_late)
            .filter(and_(overdue, instance.severity == severity))
            .label(f"late_{severity}")
        )
    columns.append(func.count().filter(instance.due_at >= today).label("due_soon"))
    obligations = (
        select(*columns)
        .where(*window.open_until_soon())
        .group_by(instance.branch_id)
        .subquery("obligations")
    )
    certificates = (
        select(
            Domain.branch_id,
            func.count().filter(Domain.status == SslCheckStatus.expired).label("expired"),
            func.count()
            .filter(Domain.status.in_([s for s in FAILING_CHECKS if s != SslCheckStatus.expired]))
            .label("failing"),
            func.count().filter(Domain.status == SslCheckStatus.warning).label("expiring"),
        )
        .where(
            Domain.tenant_id == window.tenant_id,
            Domain.branch_id.is_not(None),
            Domain.paused_at.is_(None),
            Domain.status.in_(CERTIFICATES_AT_RISK),
            window.in_scope(Domain.branch_id),
        )
        .group_by(Domain.branch_id)
        .subquery("certificates")
    )
    counts = [column for column in obligations.c if column.key != "branch_id"]
    counts += [certificates.c.expired, certificates.c.failing, certificates.c.expiring]
    return (
        select(
            Branch.id,
            Branch.code,
            Branch.name,
            Branch.status,
            *(func.coalesce(column, 0) for column in counts),
        )
        .outerjoin(obligations, obligations.c.branch_id == Branch.id)
        .outerjoin(certificates, certificates.c.branch_id == Branch.id)
        .where(Branch.tenant_id == window.tenant_id, window.in_scope(Branch.id))
    )


def _branch_health(row: Sequence[Any]) -> BranchHealth:
    """A row of `_branches`: id, code, name, status, then per severity (in `Severity`'s
    order) the overdue count and days late, then due soon, expired, failing, expiring."""
    branch_id, code, name, status, *counts = row
    per_severity = len(SEVERITY_LIST) * 2
    due_soon, expired, failing, expiring = counts[per_severity:]
    facts = HealthFacts(
        overdue=dict(zip(SEVERITY_LIST, counts[0:per_severity:2], strict=True)),
        days_late=dict(zip(SEVERITY_LIST, counts[1:per_severity:2], strict=True)),
        due_soon=due_soon,
        certificates_expired=expired,
        certificates_failing=failing,
        certificates_expiring=expiring,
    )
    score = health_score(facts)
    return BranchHealth(
        branch_id=branch_id,
        code=code,
        name=name,
        active=status == ACTIVE,
        score=score,
        band=band(score),
        facts=facts,
    )


async def _categories(
    session: AsyncSession, window: _Window, moment: datetime
) -> list[CategoryTotals]:
    """Overdue, due soon and recently waived per category: two grouped statements."""
    instance = ObligationInstance
    today = literal(window.today, Date)
    open_rows = await session.execute(
        select(
            instance.category,
            func.count().filter(instance.due_at < today),
            func.count().filter(instance.due_at >= today),
        )
        .where(*window.open_until_soon())
        .group_by(instance.category)
    )
    open_counts = {ObligationCategory(c): (int(o), int(s)) for c, o, s in open_rows}
    waived_rows = await session.execute(
        select(instance.category, func.count())
        .where(*_recently_waived(window, moment))
        .group_by(instance.category)
    )
    waived = {ObligationCategory(c): int(n) for c, n in waived_rows}
    return [
        CategoryTotals(category, *open_counts.get(category, (0, 0)), waived.get(category, 0))
        for category in ObligationCategory
    ]


def _recently_waived(window: _Window, moment: datetime) -> list[ColumnElement[bool]]:
    instance = ObligationInstance
    return [
        instance.tenant_id == window.tenant_id,
        instance.waived_at >= moment - timedelta(days=WAIVER_DAYS),
        instance.status == _written_status(ObligationStatus.waived),
        window.in_scope(instance.branch_id),
    ]


def _first(conditions: Sequence[ColumnElement[bool]], keys: Sequence[_Key], *extra: Any) -> Any:
    """The first `LIST_LIMIT` instances meeting `conditions` in the order of `keys` (then id),
    with their title and branch code (and `extra` columns).

    They are chosen in the report's partial indexes, which hold every column the choice
    reads; only the chosen rows are then read from the table (the backlog is spread over
    the whole table, a row a page).
    """
    instance = ObligationInstance
    labelled = [expression.label(name) for name, expression, _ in keys]
    chosen = (
        select(instance.id.label("chosen_id"), *labelled)
        .where(*conditions)
        .order_by(
            *(
                column.desc() if descending else column
                for column, (_, _, descending) in zip(labelled, keys, strict=True)
            ),
            instance.id,
        )
        .limit(LIST_LIMIT)
        .subquery("chosen")
    )
    return (
        select(
            instance.id,
            Branch.code,
            instance.title,
            instance.category,
            instance.severity,
            instance.due_at,
            *extra,
        )
        .join(chosen, chosen.c.chosen_id == instance.id)
        .join(Branch, Branch.id == instance.branch_id)
        .order_by(
            *(
                chosen.c[name].desc() if descending else chosen.c[name]
                for name, _, descending in keys
            ),
            chosen.c.chosen_id,
        )
    )


def _items(rows: Any, today: date) -> list[ReportItem]:
    return [
        ReportItem(
            id=row.id,
            branch_code=row.code,
            title=row.title,
            category=ObligationCategory(row.category),
            severity=Severity(row.severity),
            due_at=row.due_at,
            days_left=(row.due_at - today).days,
        )
        for row in rows
    ]


async def _overdue(session: AsyncSession, window: _Window) -> list[ReportItem]:
    instance = ObligationInstance
    conditions = [*window.open_until_soon(), instance.due_at < window.today]
    keys = [("rank", SEVERITY_RANK, False), ("due", instance.due_at, False)]
    return _items(await session.execute(_first(conditions, keys)), window.today)


async def _due_soon(session: AsyncSession, window: _Window) -> list[ReportItem]:
    instance = ObligationInstance
    conditions = [*window.open_until_soon(), instance.due_at >= window.today]
    keys = [("due", instance.due_at, False), ("rank", SEVERITY_RANK, False)]
    return _items(await session.execute(_first(conditions, keys)), window.today)


async def _certificates(session: AsyncSession, window: _Window) -> Bounded[CertificateAtRisk]:
    """At-risk certificates of the scope (the whole company: head office's too), each with
    its latest check's days remaining; one statement, the total by a window count."""
    latest = (
        select(SslCheckResult.days_remaining)
        .where(SslCheckResult.domain_id == Domain.id)
        .order_by(SslCheckResult.checked_at.desc())
        .limit(1)
        .lateral("latest")
    )
    rows = list(
        await session.execute(
            select(
                Domain.id,
                Domain.hostname,
                Domain.port,
                Branch.code,
                Domain.status,
                Domain.last_checked_at,
                latest.c.days_remaining,
                func.count().over().label("total"),
            )
            .outerjoin(Branch, Branch.id == Domain.branch_id)
            .outerjoin(latest, true())
            .where(
                Domain.tenant_id == window.tenant_id,
                Domain.paused_at.is_(None),
                Domain.status.in_(CERTIFICATES_AT_RISK),
                window.in_scope(Domain.branch_id),
            )
            .order_by(
                CERTIFICATE_RANK,
                latest.c.days_remaining.asc().nulls_last(),
                Domain.hostname,
                Domain.port,
            )
            .limit(LIST_LIMIT)
        )
    )
    items = [
        CertificateAtRisk(
            domain_id=row.id,
            hostname=row.hostname,
            port=row.port,
            branch_code=row.code,
            status=SslCheckStatus(row.status),
            days_remaining=row.days_remaining,
            last_checked_at=row.last_checked_at,
        )
        for row in rows
    ]
    return Bounded(items, int(rows[0].total) if rows else 0)


async def _alerts(session: AsyncSession, window: _Window) -> Bounded[AlertView]:
    """Unacknowledged alerts of the scope, as `/alerts` counts them (not digests, not
    tests), the latest few and how many."""
    event = NotificationEvent
    rows = list(
        await session.execute(
            select(
                event.id,
                event.event_type,
                event.severity,
                event.payload_json,
                Branch.code,
                event.created_at,
                func.count().over().label("total"),
            )
            .outerjoin(Branch, Branch.id == event.branch_id)
            .where(
                event.tenant_id == window.tenant_id,
                event.status.in_(OPEN_ALERT),
                event.event_type != NotificationEventType.digest,
                event.is_test.is_(False),
                window.in_scope(event.branch_id),
            )
            .order_by(event.created_at.desc(), event.id)
            .limit(ALERTS_LIMIT)
        )
    )
    items = [
        AlertView(
            event_id=row.id,
            event_type=NotificationEventType(row.event_type),
            severity=Severity(row.severity),
            payload=dict(row.payload_json or {}),
            branch_code=row.code,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return Bounded(items, int(rows[0].total) if rows else 0)


async def _waivers(
    session: AsyncSession, window: _Window, moment: datetime, total: int
) -> Bounded[Waiver]:
    """The latest waivers with their reason and who waived (`total`: from the categories)."""
    instance = ObligationInstance
    rows = await session.execute(
        _first(
            _recently_waived(window, moment),
            [("waived", instance.waived_at, True)],
            instance.waived_at,
            instance.waive_reason,
            instance.waived_by_user_id,
            User.full_name,
            User.telegram_name,
            User.telegram_username,
            User.email,
        ).outerjoin(User, User.id == instance.waived_by_user_id)
    )
    items = [
        Waiver(
            id=row.id,
            branch_code=row.code,
            title=row.title,
            category=ObligationCategory(row.category),
            severity=Severity(row.severity),
            due_at=row.due_at,
            waived_at=row.waived_at,
            reason=row.waive_reason,
            waived_by=person_name(
                row.full_name,
                row.telegram_name,
                row.telegram_username,
                row.email,
                row.waived_by_user_id,
            )
            if row.waived_by_user_id is not None
            else None,
        )
        for row in rows
    ]
    return Bounded(items, total)
