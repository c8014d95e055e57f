"""/dashboard: the ways into the web dashboard, and the person's calendar feed (SPEC §9).

The answer carries a Web App button (opens the dashboard inside Telegram; only when
`WEB_BASE_URL` is HTTPS, as Telegram refuses anything else), a single-use sign-in link for
a desktop browser (10 minutes), and the private calendar feed. Only the hash of a calendar
token is kept, so its address is shown when one is made: the first `/dashboard` makes it,
later ones say since when it exists, and New calendar link makes a fresh one (the old stops
working).

Both handlers are flagged `network`: the tokens are written in their own unit of work,
which has committed by the time the message that carries them is sent, so a link works
the moment it arrives.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    WebAppInfo,
)
from aiogram.utils.i18n import gettext as _

from bot.callbacks import CalendarFeedButton
from bot.keyboards import button, markup
from bot.middlewares import NETWORK, guard
from bot.texts import e
from core.config import Settings
from core.dashboard.auth import issue_login_link
from core.dashboard.calendar import CalendarLink, calendar_link, issue_calendar_token
from core.dashboard.links import calendar_url, login_url, opens_in_telegram, web_app_url
from core.i18n import Texts
from core.tenancy.scope import ActorUnits


def calendar_lines(base_url: str, feed: CalendarLink, timezone: str, texts: Texts) -> list[str]:
    if feed.token is not None:
        return [
            _(
                "📅 Your private calendar feed (add it to your calendar app as a "
                "subscription; anyone with it can read your obligations):"
            ),
            e(calendar_url(base_url, feed.token)),
        ]
    return [
        _(
            "📅 Your calendar link was made on {moment}. It is not shown again: press New "
            "calendar link to get a fresh address; the old one then stops working."
        ).format(moment=texts.moment(feed.made_at, timezone))
    ]


def dashboard_keyboard(base_url: str) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    if opens_in_telegram(base_url):
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("🖥 Open the dashboard"), web_app=WebAppInfo(url=web_app_url(base_url))
                )
            ]
        )
    rows.append([button(_("📅 New calendar link"), CalendarFeedButton())])
    return markup(rows)


async def dashboard(message: Message, units: ActorUnits, settings: Settings, texts: Texts) -> None:
    base = settings.dashboard_base_url
    async with units() as (session, actor):
        token = await issue_login_link(session, actor)
        feed = await calendar_link(session, actor)
        timezone = actor.timezone
    lines = [_("<b>Intrex dashboard</b>"), ""]
    if opens_in_telegram(base):
        lines.append(_("Press Open the dashboard to open it here in Telegram."))
    else:
        lines.append(
            _(
                "The button that opens the dashboard inside Telegram needs an HTTPS "
                "WEB_BASE_URL; ask your administrator."
            )
        )
    lines += [
        "",
        _("🔗 Sign-in link for a browser (it expires in 10 minutes and works once):"),
        e(login_url(base, token)),
        "",
        *calendar_lines(base, feed, timezone, texts),
    ]
    await message.answer("\n".join(lines), reply_markup=dashboard_keyboard(base))


async def new_calendar_link(
    callback: CallbackQuery,
    callback_data: CalendarFeedButton,
    bot: Bot,
    units: ActorUnits,
    settings: Settings,
) -> None:
    async with units() as (session, actor):
        token = await issue_calendar_token(session, actor)
    await callback.answer(_("New calendar link made; the old one no longer works."))
    chat_id = callback.message.chat.id if callback.message else callback.from_user.id
    await bot.send_message(
        chat_id,
        "\n".join(
            [
                _(
                    "📅 Your new private calendar feed (the old address no longer works; "
                    "replace it in your calendar app):"
                ),
                e(calendar_url(settings.dashboard_base_url, token)),
            ]
        ),
    )


def build_router() -> Router:
    """A fresh router (one per dispatcher) with this feature's handlers."""
    router = Router(name="dashboard")
    guard(router)
    router.message.register(dashboard, Command("dashboard"), flags={NETWORK: True})
    router.callback_query.register(
        new_calendar_link, CalendarFeedButton.filter(), flags={NETWORK: True}
    )
    return router
