"""Domains of a tenant: register, remove, list, check now (the bot's /adddomain, /removedomain,
/domains and /check, and the CLI).

Each function validates first, does its network work outside any transaction, then writes
in one tenant unit of work together with its `activity_logs` entry, so a refusal or a
failure leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError

from core.audit import add_recorded, record, snapshot
from core.config import Settings, get_settings
from core.db.session import Database
from core.errors import ConflictError, NotFoundError
from core.ssl.checker import CheckOutcome, ResolutionError, Resolver, SslChecker, system_resolver
from core.ssl.hosts import HostPort, parse_host_port, public_addresses
from core.ssl.models import Domain, SslCheckResult
from core.ssl.recording import record_outcome
from core.tenancy.models import Branch, Tenant
from core.tenancy.service import find_branch

INTERNAL_COLUMNS = ("claimed_until", "claim_token")
"""Scheduling lease columns: noise in the audit trail."""


@dataclass(frozen=True)
class CheckedDomain:
    """A check's outcome and, when the target is a registered domain, what was recorded."""

    outcome: CheckOutcome
    domain: Domain | None = None
    result: SslCheckResult | None = None


@dataclass(frozen=True)
class DomainState:
    """One line of /domains: the domain, its branch and its latest check."""

    domain: Domain
    branch_code: str | None
    last_result: SslCheckResult | None


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


async def _find_domain(db: Database, tenant: Tenant, target: HostPort) -> Domain | None:
    async with db.tenant_uow(tenant.id) as session:
        found: Domain | None = await session.scalar(
            select(Domain).where(Domain.hostname == target.host, Domain.port == target.port)
        )
        return found


async def add_domain(
    db: Database,
    tenant: Tenant,
    host_port: str,
    branch_code: str | None = None,
    user_id: int | None = None,
    *,
    settings: Settings | None = None,
    resolver: Resolver | None = None,
) -> CheckedDomain:
    """Register a domain for monitoring and record its first check."""
    settings = settings or get_settings()
    target = parse_host_port(host_port)
    branch = await find_branch(db, tenant, branch_code) if branch_code else None
    if await _find_domain(db, tenant, target) is not None:
        raise ConflictError(f"{target} is already monitored in {tenant.name}")
    await ensure_public_target(target, settings, resolver)
    outcome = await SslChecker.from_settings(settings, resolver=resolver).check(target)
    domain = Domain(
        tenant_id=tenant.id,
        branch_id=branch.id if branch else None,
        hostname=target.host,
        port=target.port,
    )
    try:
        async with db.tenant_uow(tenant.id) as session:
            await add_recorded(
                session,
                domain,
                tenant_id=tenant.id,
                action="domain.add",
                entity_type="domain",
                user_id=user_id,
                exclude=INTERNAL_COLUMNS,
            )
            recorded = await record_outcome(
                session,
                domain,
                outcome,
                notify_days=settings.ssl_notify_days,
                next_check_at=_next_check(outcome, settings),
                branch_code=branch.code if branch else None,
            )
    except IntegrityError as exc:
        raise ConflictError(f"{target} is already monitored in {tenant.name}") from exc
    return CheckedDomain(outcome, domain, recorded.result)


async def remove_domain(
    db: Database,
    tenant: Tenant,
    host_port: str,
    user_id: int | None = None,
) -> Domain:
    """Stop monitoring a domain (its check history goes with it); returns the removed row."""
    target = parse_host_port(host_port)
    async with db.tenant_uow(tenant.id) as session:
        domain = await session.scalar(
            select(Domain)
            .where(Domain.hostname == target.host, Domain.port == target.port)
            .with_for_update()
        )
        if domain is None:
            raise NotFoundError(f"{target} is not monitored in {tenant.name}")
        before = snapshot(domain, exclude=INTERNAL_COLUMNS)
        await session.delete(domain)
        await record(
            session,
            tenant_id=tenant.id,
            action="domain.remove",
            entity_type="domain",
            entity_id=domain.id,
            before=before,
            user_id=user_id,
        )
    return domain


async def list_domains(
    db: Database, tenant: Tenant, branch_ids: Collection[uuid.UUID] | None = None
) -> list[DomainState]:
    """The tenant's domains with their latest check; `branch_ids` limits to those branches.

    With `branch_ids`, domains that belong to no branch (head office's) are left out.
    """
    query = (
        select(Domain, Branch.code)
        .outerjoin(Branch, Branch.id == Domain.branch_id)
        .order_by(Domain.hostname, Domain.port)
    )
    if branch_ids is not None:
        query = query.where(Domain.branch_id.in_(list(branch_ids)))
    async with db.tenant_uow(tenant.id) as session:
        rows = (await session.execute(query)).all()
        ids = [domain.id for domain, _ in rows]
        latest = (
            select(SslCheckResult)
            .where(SslCheckResult.domain_id.in_(ids))
            .ext(distinct_on(SslCheckResult.domain_id))
            .order_by(SslCheckResult.domain_id, SslCheckResult.checked_at.desc())
        )
        results = {result.domain_id: result for result in await session.scalars(latest)}
    return [DomainState(domain, code, results.get(domain.id)) for domain, code in rows]


async def check_now(
    db: Database,
    tenant: Tenant,
    host_port: str,
    *,
    branch_ids: Collection[uuid.UUID] | None = None,
    settings: Settings | None = None,
    resolver: Resolver | None = None,
) -> CheckedDomain:
    """Check a host now. A registered domain (in scope) gets the result recorded, with alerts;
    any other host is checked and answered, nothing stored."""
    settings = settings or get_settings()
    target = parse_host_port(host_port)
    domain = await _find_domain(db, tenant, target)
    if domain is not None and branch_ids is not None and domain.branch_id not in branch_ids:
        domain = None
    if domain is None:
        await ensure_public_target(target, settings, resolver)
    outcome = await SslChecker.from_settings(settings, resolver=resolver).check(target)
    if domain is None:
        return CheckedDomain(outcome)
    async with db.tenant_uow(tenant.id) as session:
        current = await session.scalar(
            select(Domain).where(Domain.id == domain.id).with_for_update()
        )
        if current is None:
            return CheckedDomain(outcome)
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
    return CheckedDomain(outcome, current, recorded.result)


def _next_check(outcome: CheckOutcome, settings: Settings) -> datetime:
    return outcome.checked_at + timedelta(minutes=settings.ssl_check_interval_minutes)
