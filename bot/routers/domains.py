"""/domains, /adddomain, /removedomain and /check."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.middlewares import LinkedOnlyMiddleware
from bot.replies import refuse
from bot.texts import e, local_time
from core.config import Settings
from core.db.enums import AppRole, SslCheckStatus
from core.db.session import Database
from core.errors import IntrexError
from core.ssl.checker import CheckOutcome, Resolver
from core.ssl.hosts import parse_host_port
from core.ssl.service import add_domain, check_now, list_domains, remove_domain
from core.tenancy.models import Tenant, User
from core.tenancy.scope import scope_of

STATUS_MARK = {
    SslCheckStatus.ok: "🟢",
    SslCheckStatus.warning: "🟡",
    SslCheckStatus.expired: "🔴",
    SslCheckStatus.hostname_mismatch: "🔴",
    SslCheckStatus.handshake_failed: "🔴",
    SslCheckStatus.dns_failed: "🔴",
    SslCheckStatus.timeout: "🟠",
}
CHECKERS = frozenset({AppRole.head_office_admin, AppRole.branch_manager})


def outcome_text(target: str, outcome: CheckOutcome, timezone: str) -> str:
    mark = STATUS_MARK.get(outcome.status, "")
    lines = [f"{mark} <b>{e(target)}</b>: {e(outcome.status.value.replace('_', ' '))}"]
    if outcome.days_remaining is not None and outcome.certificate is not None:
        lines.append(
            f"Valid until {local_time(outcome.certificate.valid_to, timezone)} "
            f"({outcome.days_remaining} days left)"
        )
        if outcome.certificate.issuer_cn:
            lines.append(f"Issuer: {e(outcome.certificate.issuer_cn)}")
    if outcome.error_detail:
        lines.append(e(outcome.error_detail))
    return "\n".join(lines)


async def domains(message: Message, db: Database, user: User, tenant: Tenant) -> None:
    states = await list_domains(db, tenant, await scope_of(db, user))
    if not states:
        await message.answer("No monitored domains in your scope.")
        return
    lines = ["<b>Monitored certificates</b>"]
    for state in states:
        domain, result = state.domain, state.last_result
        target = domain.hostname if domain.port == 443 else f"{domain.hostname}:{domain.port}"
        status = domain.status.value.replace("_", " ") if domain.status else "not checked yet"
        days = (
            f", {result.days_remaining} days left"
            if result and result.days_remaining is not None
            else ""
        )
        branch = f" [{e(state.branch_code)}]" if state.branch_code else ""
        mark = STATUS_MARK.get(domain.status, "⚪") if domain.status else "⚪"
        lines.append(
            f"{mark} {e(target)}{branch} — {e(status)}{days}, "
            f"checked {local_time(domain.last_checked_at, tenant.timezone)}"
        )
    await message.answer("\n".join(lines))


async def add(
    message: Message,
    command: CommandObject,
    db: Database,
    user: User,
    tenant: Tenant,
    settings: Settings,
    ssl_resolver: Resolver | None = None,
) -> None:
    if user.role is not AppRole.head_office_admin:
        await refuse(message, "Only head office can add domains.")
        return
    parts = (command.args or "").split()
    if not 1 <= len(parts) <= 2:
        await refuse(message, "Usage: /adddomain HOST[:PORT] [BRANCH_CODE]")
        return
    try:
        target = parse_host_port(parts[0])
        await message.answer(f"Checking {e(target)}…")
        checked = await add_domain(
            db,
            tenant,
            parts[0],
            parts[1] if len(parts) == 2 else None,
            user.id,
            settings=settings,
            resolver=ssl_resolver,
        )
    except IntrexError as exc:
        await refuse(message, exc.message)
        return
    await message.answer(
        "Now monitoring. First check:\n"
        + outcome_text(str(target), checked.outcome, tenant.timezone)
    )


async def remove(
    message: Message, command: CommandObject, db: Database, user: User, tenant: Tenant
) -> None:
    if user.role is not AppRole.head_office_admin:
        await refuse(message, "Only head office can remove domains.")
        return
    target = (command.args or "").strip()
    if not target or len(target.split()) != 1:
        await refuse(message, "Usage: /removedomain HOST[:PORT]")
        return
    try:
        removed = await remove_domain(db, tenant, target, user.id)
    except IntrexError as exc:
        await refuse(message, exc.message)
        return
    await message.answer(f"Stopped monitoring {e(removed.hostname)}:{removed.port}.")


async def check(
    message: Message,
    command: CommandObject,
    db: Database,
    user: User,
    tenant: Tenant,
    settings: Settings,
    ssl_resolver: Resolver | None = None,
) -> None:
    if user.role not in CHECKERS:
        await refuse(message, "Only branch managers and head office can run checks.")
        return
    target = (command.args or "").strip()
    if not target or len(target.split()) != 1:
        await refuse(message, "Usage: /check HOST[:PORT]")
        return
    try:
        checked = await check_now(
            db,
            tenant,
            target,
            branch_ids=await scope_of(db, user),
            settings=settings,
            resolver=ssl_resolver,
        )
    except IntrexError as exc:
        await refuse(message, exc.message)
        return
    await message.answer(outcome_text(target, checked.outcome, tenant.timezone))


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="domains")
    router.message.middleware(LinkedOnlyMiddleware())
    router.message.register(domains, Command("domains"))
    router.message.register(add, Command("adddomain"))
    router.message.register(remove, Command("removedomain"))
    router.message.register(check, Command("check"))
    return router
