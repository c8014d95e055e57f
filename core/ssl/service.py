"""Domains of a tenant, for an acting person: list, register, remove, pause, resume, check now.

Registering and checking do network work (a DNS lookup, a TLS handshake), so they are two
phases around it and never hold a transaction open on the network: `plan_domain` /
`find_checkable` decide in one unit of work (policy, duplicates, scope), the check runs
outside any, and `register_domain` / `record_check` write in a new one, re-reading what
they need. `add_domain` and `check_now` put the phases together for callers that can open
units of work (`Units`: the bot's network handlers, the command line, the tests). Every
write carries its `activity_logs` entry in the same transaction, so a refusal or a failure
leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import add_recorded, record, record_update, snapshot
from core.clock import utc_now
from core.config import Settings
from core.db.enums import BranchStatus
from core.errors import (
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.notify.events import resolve_events
from core.ssl import policy
from core.ssl.checker import CheckOutcome, ResolutionError, Resolver, SslChecker, system_resolver
from core.ssl.hosts import HostPort, parse_host_port, public_addresses
from core.ssl.models import Domain, SslCheckResult
from core.ssl.recording import record_outcome
from core.tenancy.models import Branch
from core.tenancy.scope import Actor
from core.tenancy.service import normalise_branch_code

INTERNAL_COLUMNS = ("claimed_until", "claim_token")
"""Scheduling lease columns: noise in the audit trail."""

Units = Callable[[], AbstractAsyncContextManager[tuple[AsyncSession, Actor]]]
"""Opens one unit of work and its actor, afresh for each phase of network work: a person's
`ActorUnits` (the bot), or the command line's `console_unit` in a tenant."""

ALERT_PREFIXES = ("ssl_failure:{id}:", "ssl_expiry:{id}:")
"""The fingerprints of a domain's certificate alerts (`core.ssl.recording`)."""


@dataclass(frozen=True)
class CheckedDomain:
    """A check's outcome and, when the target is a registered domain, what was recorded."""

    target: HostPort
    outcome: CheckOutcome
    domain: Domain | None = None
    result: SslCheckResult | None = None


@dataclass(frozen=True)
class DomainState:
    """One line of /domains: the domain, its branch and its latest check."""

    domain: Domain
    branch_code: str | None
    last_result: SslCheckResult | None

    @property
    def paused(self) -> bool:
        return self.domain.paused_at is not None


async def ensure_public_target(
    target: HostPort, settings: Settings, resolver: Resolver | None = None
) -> None:
    """Refuse a name that resolves to any non-public address, unless ALLOW_PRIVATE_TARGETS.

    A name that does not resolve (yet) passes: its checks will say `dns_failed`.
    """
    if settings.allow_private_targets:
        return
    resolve = resolver or system_resolver()
    try:
        async with asyncio.timeout(settings.ssl_timeout_seconds):
            addresses = await resolve(target.host, target.port)
    except (ResolutionError, TimeoutError):
        return
    public_addresses(target.host, addresses, allow_private=False, require_all=True)


async def _domain_at(
    session: AsyncSession, target: HostPort, *, lock: bool = False
) -> Domain | None:
    query = select(Domain).where(Domain.hostname == target.host, Domain.port == target.port)
    if lock:
        query = query.with_for_update()
    found: Domain | None = await session.scalar(query)
    return found


@dataclass(frozen=True)
class PlannedDomain:
    target: HostPort
    branch_id: uuid.UUID | None
    branch_code: str | None


async def plan_domain(
    session: AsyncSession, actor: Actor, host_port: str, branch_code: str | None
) -> PlannedDomain:
    """Phase 1 of registering: allowed, well-formed, its branch exists, not monitored yet."""
    if not policy.can_add_domain(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    target = parse_host_port(host_port)
    branch = None
    if branch_code:
        code = normalise_branch_code(branch_code)
        branch = await session.scalar(select(Branch).where(Branch.code == code))
        if branch is None:
            raise NotFoundError(ErrorCode.branch_not_found, code=code)
        if branch.status == BranchStatus.inactive.value:
            raise ValidationError(ErrorCode.branch_inactive, code=code)
    if await _domain_at(session, target) is not None:
        raise ConflictError(ErrorCode.domain_exists, target=str(target))
    return PlannedDomain(target, branch.id if branch else None, branch.code if branch else None)


async def probe(
    target: HostPort, settings: Settings, resolver: Resolver | None, *, registered: bool
) -> CheckOutcome:
    """The network part: a host not yet registered must be public; then one check."""
    if not registered:
        await ensure_public_target(target, settings, resolver)
    return await SslChecker.from_settings(settings, resolver=resolver).check(target)


async def register_domain(
    session: AsyncSession,
    actor: Actor,
    planned: PlannedDomain,
    outcome: CheckOutcome,
    settings: Settings,
) -> CheckedDomain:
    """Phase 2 of registering: the domain, its first result and its audit entry."""
    if not policy.can_add_domain(actor):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    domain = Domain(
        tenant_id=actor.tenant_id,
        branch_id=planned.branch_id,
        hostname=planned.target.host,
        port=planned.target.port,
    )
    try:
        async with session.begin_nested():
            await add_recorded(
                session,
                domain,
                tenant_id=actor.tenant_id,
                action="domain.add",
                entity_type="domain",
                user_id=actor.user_id,
                exclude=INTERNAL_COLUMNS,
            )
    except IntegrityError as exc:
        raise ConflictError(ErrorCode.domain_exists, target=str(planned.target)) from exc
    recorded = await record_outcome(
        session,
        domain,
        outcome,
        notify_days=settings.ssl_notify_days,
        next_check_at=_next_check(outcome, settings),
        branch_code=planned.branch_code,
    )
    return CheckedDomain(planned.target, outcome, domain, recorded.result)


async def add_domain(
    units: Units,
    host_port: str,
    branch_code: str | None = None,
    *,
    settings: Settings,
    resolver: Resolver | None = None,
) -> CheckedDomain:
    """Register a domain for monitoring with its first check (the three phases)."""
    async with units() as (session, actor):
        planned = await plan_domain(session, actor, host_port, branch_code)
    outcome = await probe(planned.target, settings, resolver, registered=False)
    async with units() as (session, actor):
        return await register_domain(session, actor, planned, outcome, settings)


async def remove_domain(session: AsyncSession, actor: Actor, host_port: str) -> Domain:
    """Stop monitoring a domain (its history goes with it, its open alerts end)."""
    target = parse_host_port(host_port)
    domain = await _domain_at(session, target, lock=True)
    if domain is None or not policy.can_view_domain(actor, domain):
        raise NotFoundError(ErrorCode.domain_not_found, target=str(target))
    if not policy.can_remove_domain(actor, domain):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    before = snapshot(domain, exclude=INTERNAL_COLUMNS)
    await _end_alerts(session, actor, domain, "domain_removed")
    await session.delete(domain)
    await record(
        session,
        tenant_id=actor.tenant_id,
        action="domain.remove",
        entity_type="domain",
        entity_id=domain.id,
        before=before,
        user_id=actor.user_id,
    )
    return domain


async def pause_domain(
    session: AsyncSession, actor: Actor, host_port: str, *, now: datetime | None = None
) -> Domain:
    """Stop checking a domain for now, keeping it and its history; its open alerts end.

    The round's lease is dropped too, so a round that claimed the domain just before
    cannot record its check after the pause (it finds the claim gone). The failure
    episode closes with the alerts: if the host still fails after `resume_domain`, that
    is a new episode and a new alert, not a silent continuation of one already ended.
    """
    domain = await _domain_to_pause(session, actor, host_port)
    if domain.paused_at is not None:
        raise ConflictError(ErrorCode.domain_paused, target=_target_of(domain))
    before = snapshot(domain, exclude=INTERNAL_COLUMNS)
    await _end_alerts(session, actor, domain, "domain_paused")
    domain.paused_at = utc_now(now)
    domain.claimed_until = None
    domain.claim_token = None
    domain.failure_episode_id = None
    domain.failure_since = None
    await record_update(
        session,
        domain,
        before,
        tenant_id=actor.tenant_id,
        action="domain.pause",
        entity_type="domain",
        user_id=actor.user_id,
        exclude=INTERNAL_COLUMNS,
    )
    return domain


async def resume_domain(
    session: AsyncSession, actor: Actor, host_port: str, *, now: datetime | None = None
) -> Domain:
    """Monitor a paused domain again, due at once: the next round checks it."""
    domain = await _domain_to_pause(session, actor, host_port)
    if domain.paused_at is None:
        raise ConflictError(ErrorCode.domain_not_paused, target=_target_of(domain))
    before = snapshot(domain, exclude=INTERNAL_COLUMNS)
    domain.paused_at = None
    domain.next_check_at = utc_now(now)
    await record_update(
        session,
        domain,
        before,
        tenant_id=actor.tenant_id,
        action="domain.resume",
        entity_type="domain",
        user_id=actor.user_id,
        exclude=INTERNAL_COLUMNS,
    )
    return domain


async def _domain_to_pause(session: AsyncSession, actor: Actor, host_port: str) -> Domain:
    target = parse_host_port(host_port)
    domain = await _domain_at(session, target, lock=True)
    if domain is None or not policy.can_view_domain(actor, domain):
        raise NotFoundError(ErrorCode.domain_not_found, target=str(target))
    if not policy.can_pause_domain(actor, domain):
        raise PermissionDeniedError(ErrorCode.head_office_only)
    return domain


async def _end_alerts(session: AsyncSession, actor: Actor, domain: Domain, resolution: str) -> None:
    for prefix in ALERT_PREFIXES:
        await resolve_events(
            session,
            tenant_id=actor.tenant_id,
            fingerprint_prefix=prefix.format(id=domain.id),
            resolution=resolution,
            by_user_id=actor.user_id,
        )


def _target_of(domain: Domain) -> str:
    return str(HostPort(domain.hostname, domain.port))


async def list_domains(session: AsyncSession, actor: Actor) -> list[DomainState]:
    """The domains the actor may see, with their latest check (head office: every one)."""
    query = (
        select(Domain, Branch.code)
        .outerjoin(Branch, Branch.id == Domain.branch_id)
        .order_by(Domain.hostname, Domain.port)
    )
    if actor.branch_ids is not None:
        query = query.where(Domain.branch_id.in_(sorted(actor.branch_ids)))
    rows = [(domain, code) for domain, code in (await session.execute(query)).all()]
    visible = [(domain, code) for domain, code in rows if policy.can_view_domain(actor, domain)]
    latest = (
        select(SslCheckResult)
        .where(SslCheckResult.domain_id.in_([domain.id for domain, _ in visible]))
        .ext(distinct_on(SslCheckResult.domain_id))
        .order_by(SslCheckResult.domain_id, SslCheckResult.checked_at.desc())
    )
    results = {result.domain_id: result for result in await session.scalars(latest)}
    return [DomainState(domain, code, results.get(domain.id)) for domain, code in visible]


async def find_checkable(
    session: AsyncSession, actor: Actor, host_port: str
) -> tuple[HostPort, Domain | None]:
    """Phase 1 of /check: the target and its domain, if the actor may check it.

    A registered domain outside the actor's scope is reported as not monitored, exactly
    like an unknown host for anyone but head office: nothing is revealed about it.
    """
    target = parse_host_port(host_port)
    domain = await _domain_at(session, target)
    if domain is not None and not policy.can_view_domain(actor, domain):
        domain = None
    if not policy.can_check(actor, domain):
        if actor.manages:
            raise NotFoundError(ErrorCode.domain_not_found, target=str(target))
        raise PermissionDeniedError(ErrorCode.managers_only)
    return target, domain


async def record_check(
    session: AsyncSession,
    actor: Actor,
    domain_id: uuid.UUID,
    target: HostPort,
    outcome: CheckOutcome,
    settings: Settings,
) -> CheckedDomain:
    """Phase 2 of /check on a registered domain: the result, and the alerts it warrants."""
    current = await session.scalar(select(Domain).where(Domain.id == domain_id).with_for_update())
    if current is None or not policy.can_check(actor, current):
        return CheckedDomain(target, outcome)
    if current.paused_at is not None:
        return CheckedDomain(target, outcome, current)
    branch_code = (
        await session.scalar(select(Branch.code).where(Branch.id == current.branch_id))
        if current.branch_id
        else None
    )
    recorded = await record_outcome(
        session,
        current,
        outcome,
        notify_days=settings.ssl_notify_days,
        next_check_at=_next_check(outcome, settings),
        branch_code=branch_code,
    )
    return CheckedDomain(target, outcome, current, recorded.result)


async def check_now(
    units: Units, host_port: str, *, settings: Settings, resolver: Resolver | None = None
) -> CheckedDomain:
    """Check a host now. A registered domain in scope gets the result recorded, with alerts;
    any other host (head office only) is checked and answered, nothing stored.

    A paused domain is checked too (someone asked, explicitly) and answered, but nothing
    is recorded: no history, no alerts, no change to its schedule, as the pause promised.
    The answer then carries the domain and no result.
    """
    async with units() as (session, actor):
        target, domain = await find_checkable(session, actor, host_port)
        domain_id = domain.id if domain is not None else None
    outcome = await probe(target, settings, resolver, registered=domain_id is not None)
    if domain_id is None:
        return CheckedDomain(target, outcome)
    async with units() as (session, actor):
        return await record_check(session, actor, domain_id, target, outcome, settings)


def _next_check(outcome: CheckOutcome, settings: Settings) -> datetime:
    return outcome.checked_at + timedelta(minutes=settings.ssl_check_interval_minutes)


HISTORY_LIMIT = 50


async def domain_history(
    session: AsyncSession, actor: Actor, domain_id: uuid.UUID, *, limit: int = HISTORY_LIMIT
) -> tuple[DomainState, list[SslCheckResult]]:
    """One domain in the actor's scope and its latest checks, newest first; a domain of
    another tenant or outside the actor's branches is not found."""
    row = (
        await session.execute(
            select(Domain, Branch.code)
            .outerjoin(Branch, Branch.id == Domain.branch_id)
            .where(Domain.id == domain_id)
        )
    ).first()
    if row is None or not policy.can_view_domain(actor, row[0]):
        raise NotFoundError(ErrorCode.domain_not_found)
    results = list(
        await session.scalars(
            select(SslCheckResult)
            .where(SslCheckResult.domain_id == domain_id)
            .order_by(SslCheckResult.checked_at.desc())
            .limit(limit)
        )
    )
    state = DomainState(row[0], row[1], results[0] if results else None)
    return state, results
