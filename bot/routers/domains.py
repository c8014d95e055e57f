"""/domains, /adddomain, /removedomain and /check.

Adding and checking do network work (a DNS lookup, a handshake): those handlers are flagged
`network` and use core's phased services, so no transaction is open while they wait.
A paused domain (`intrex domain pause`) shows as paused in /domains; /check still checks
it, being an explicit request, and says that the result was not recorded.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import NETWORK, guard
from bot.texts import CERTIFICATE_MARK, e, fit_lines
from core.config import Settings
from core.errors import ErrorCode, ValidationError
from core.i18n import Texts
from core.i18n.labels import label
from core.ssl.checker import CheckOutcome, Resolver
from core.ssl.hosts import parse_host_port
from core.ssl.service import add_domain, check_now, list_domains, remove_domain
from core.tenancy.models import Tenant
from core.tenancy.scope import Actor, ActorUnits

USAGE_ADD = "/adddomain HOST[:PORT] [BRANCH_CODE]"
USAGE_REMOVE = "/removedomain HOST[:PORT]"
USAGE_CHECK = "/check HOST[:PORT]"
PAUSED_MARK = "⏸"


def outcome_text(target: str, outcome: CheckOutcome, texts: Texts, timezone: str) -> str:
    mark = CERTIFICATE_MARK.get(outcome.status, "")
    lines = [f"{mark} <b>{e(target)}</b>: {label(texts, outcome.status)}"]
    if outcome.days_remaining is not None and outcome.certificate is not None:
        lines.append(
            _("Valid until {moment} ({days})").format(
                moment=texts.moment(outcome.certificate.valid_to, timezone),
                days=texts.ngettext(
                    "{count} day left", "{count} days left", outcome.days_remaining
                ).format(count=texts.number(outcome.days_remaining)),
            )
        )
        if outcome.certificate.issuer_cn:
            lines.append(_("Issuer: {issuer}").format(issuer=e(outcome.certificate.issuer_cn)))
    if outcome.error_detail:
        lines.append(e(outcome.error_detail))
    return fit_lines(lines)


def arguments(command: CommandObject, usage: str, most: int) -> list[str]:
    parts = (command.args or "").split()
    if not 1 <= len(parts) <= most:
        raise ValidationError(ErrorCode.usage, usage=usage)
    return parts


async def domains(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    states = await list_domains(session, actor)
    if not states:
        await message.answer(_("No monitored domains in your scope."))
        return
    lines = [_("<b>Monitored certificates</b>")]
    for state in states:
        domain, result = state.domain, state.last_result
        target = domain.hostname if domain.port == 443 else f"{domain.hostname}:{domain.port}"
        status = label(texts, domain.status) if domain.status else _("not checked yet")
        mark = CERTIFICATE_MARK.get(domain.status, "⚪") if domain.status else "⚪"
        branch = f" [{e(state.branch_code)}]" if state.branch_code else ""
        checked = texts.moment(domain.last_checked_at, actor.timezone)
        if domain.paused_at is not None:
            lines.append(
                _("{mark} {target}{branch}: paused since {moment}").format(
                    mark=PAUSED_MARK,
                    target=e(target),
                    branch=branch,
                    moment=texts.moment(domain.paused_at, actor.timezone),
                )
            )
        elif result is not None and result.days_remaining is not None:
            lines.append(
                _("{mark} {target}{branch}: {status}, {days}, checked {moment}").format(
                    mark=mark,
                    target=e(target),
                    branch=branch,
                    status=status,
                    days=texts.ngettext(
                        "{count} day left", "{count} days left", result.days_remaining
                    ).format(count=texts.number(result.days_remaining)),
                    moment=checked,
                )
            )
        else:
            lines.append(
                _("{mark} {target}{branch}: {status}, checked {moment}").format(
                    mark=mark, target=e(target), branch=branch, status=status, moment=checked
                )
            )
    await message.answer(fit_lines(lines))


async def add(
    message: Message,
    command: CommandObject,
    units: ActorUnits,
    tenant: Tenant,
    texts: Texts,
    settings: Settings,
    ssl_resolver: Resolver | None = None,
) -> None:
    parts = arguments(command, USAGE_ADD, 2)
    target = parse_host_port(parts[0])
    await message.answer(_("Checking {target}…").format(target=e(target)))
    checked = await add_domain(
        units,
        str(target),
        parts[1] if len(parts) == 2 else None,
        settings=settings,
        resolver=ssl_resolver,
    )
    await message.answer(
        _("Now monitoring. First check:")
        + "\n"
        + outcome_text(str(checked.target), checked.outcome, texts, tenant.timezone)
    )


async def remove(
    message: Message, command: CommandObject, session: AsyncSession, actor: Actor
) -> None:
    [target] = arguments(command, USAGE_REMOVE, 1)
    removed = await remove_domain(session, actor, target)
    await message.answer(
        _("Stopped monitoring {target}.").format(target=e(f"{removed.hostname}:{removed.port}"))
    )


async def check(
    message: Message,
    command: CommandObject,
    units: ActorUnits,
    tenant: Tenant,
    texts: Texts,
    settings: Settings,
    ssl_resolver: Resolver | None = None,
) -> None:
    [target] = arguments(command, USAGE_CHECK, 1)
    checked = await check_now(units, target, settings=settings, resolver=ssl_resolver)
    answer = outcome_text(target, checked.outcome, texts, tenant.timezone)
    if checked.domain is not None and checked.domain.paused_at is not None:
        answer += "\n" + _("Monitoring is paused: this result was not recorded.")
    await message.answer(answer)


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="domains")
    guard(router)
    router.message.register(domains, Command("domains"))
    router.message.register(add, Command("adddomain"), flags={NETWORK: True})
    router.message.register(remove, Command("removedomain"))
    router.message.register(check, Command("check"), flags={NETWORK: True})
    return router
