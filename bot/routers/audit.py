"""/audit: head office reads the audit trail in the chat, latest first (SPEC §7).

Each entry says when (the tenant's wall clock, in the reader's language), who, what (the
action in words) and which fields changed, before → after, values clipped. A page holds
as many entries as fit in one Telegram message; Older and Newer carry the position of the
last or first entry shown, so an entry left off for length opens the next page rather than
being skipped. Core refuses anyone but head office (`core.audit.policy`), on the command
and on every page button alike; the errors router words the refusal in their language.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import AuditPageButton
from bot.keyboards import button, markup
from bot.middlewares import guard
from bot.replies import edit_or_answer
from bot.texts import MESSAGE_LIMIT, clip, e
from core.audit.queries import AuditCursor, AuditEntry, AuditPage, list_audit, parse_cursor
from core.audit.wording import action_text, change_text, who_text
from core.i18n import Texts
from core.tenancy.scope import Actor

PAGE_SIZE = 8
CHANGES_SHOWN = 6
SUBJECT_LIMIT = 60


def entry_lines(entry: AuditEntry, page: AuditPage, actor: Actor, texts: Texts) -> list[str]:
    """One entry: when and who, what, then each changed field (at most `CHANGES_SHOWN`)."""
    what = action_text(texts, entry.action)
    if entry.subject:
        what = _("{action}: “{subject}”").format(
            action=what, subject=clip(entry.subject, SUBJECT_LIMIT)
        )
    lines = [
        _("🕓 <b>{when}</b> · {who}").format(
            when=texts.moment(entry.timestamp, actor.timezone),
            who=e(clip(who_text(texts, entry), SUBJECT_LIMIT)),
        ),
        e(what),
    ]
    changes = entry.changes
    lines += [
        "   • " + e(change_text(texts, page, entry, change, actor.timezone))
        for change in changes[:CHANGES_SHOWN]
    ]
    if len(changes) > CHANGES_SHOWN:
        lines.append(
            "   " + _("… and {count} more").format(count=texts.number(len(changes) - CHANGES_SHOWN))
        )
    return lines


def audit_reply(
    page: AuditPage, actor: Actor, texts: Texts, *, paged: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The page's text, as many whole entries as fit in one message, and its buttons."""
    title = _("<b>Audit trail</b>, latest first")
    if not page.entries and not paged:
        return "\n".join([title, _("Nothing has been recorded yet.")]), None
    if not page.entries:
        latest = markup([[button(_("⏮ Latest"), AuditPageButton())]])
        return "\n".join([title, _("No more entries.")]), latest
    reserve = 64
    blocks: list[str] = []
    size = len(title)
    shown: list[AuditEntry] = []
    for entry in page.entries:
        block = "\n".join(entry_lines(entry, page, actor, texts))
        if shown and size + len(block) + 2 > MESSAGE_LIMIT - reserve:
            break
        blocks.append(block)
        shown.append(entry)
        size += len(block) + 2
    older: AuditCursor | None = page.older
    if len(shown) < len(page.entries):
        older = shown[-1].cursor
    navigation = []
    if page.newer is not None:
        navigation.append(button(_("◀ Newer"), AuditPageButton(after=page.newer.token)))
    if older is not None:
        navigation.append(button(_("Older ▶"), AuditPageButton(before=older.token)))
    return "\n\n".join([title, *blocks]), markup([navigation])


async def audit(message: Message, session: AsyncSession, actor: Actor, texts: Texts) -> None:
    page = await list_audit(session, actor, limit=PAGE_SIZE)
    text, keyboard = audit_reply(page, actor, texts, paged=False)
    await message.answer(text, reply_markup=keyboard)


async def audit_page(
    callback: CallbackQuery,
    callback_data: AuditPageButton,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
) -> None:
    before = parse_cursor(callback_data.before) if callback_data.before else None
    after = parse_cursor(callback_data.after) if callback_data.after else None
    page = await list_audit(session, actor, limit=PAGE_SIZE, before=before, after=after)
    text, keyboard = audit_reply(page, actor, texts, paged=before is not None or after is not None)
    await edit_or_answer(callback, text, keyboard)
    await callback.answer()


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="audit")
    guard(router)
    router.message.register(audit, Command("audit"))
    router.callback_query.register(audit_page, AuditPageButton.filter())
    return router
