"""The dashboard's public addresses, as the bot and the feed hand them out (SPEC §9).

The base is `Settings.dashboard_base_url` (`WEB_BASE_URL`, else the HTTP listener's own
address); the dashboard is mounted under `/app` by `intrex run`.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

DASHBOARD_PREFIX = "/app"


def login_url(base_url: str, token: str) -> str:
    """The single-use link a desktop browser signs in with."""
    return f"{base_url}{DASHBOARD_PREFIX}/login?token={token}"


def web_app_url(base_url: str) -> str:
    """The Web App's entry, opened inside Telegram (which accepts only HTTPS there)."""
    return f"{base_url}{DASHBOARD_PREFIX}/telegram"


def opens_in_telegram(base_url: str) -> bool:
    """Telegram refuses a Web App button whose address is not HTTPS."""
    return base_url.startswith("https://")


def calendar_url(base_url: str, token: str) -> str:
    """A person's private calendar feed: the only dashboard URL that carries a secret."""
    return f"{base_url}{DASHBOARD_PREFIX}/calendar/{token}.ics"


def obligation_url(base_url: str, obligation_id: uuid.UUID) -> str:
    return f"{base_url}{DASHBOARD_PREFIX}/obligations/{obligation_id}"


def host_of(base_url: str) -> str:
    """The dashboard's host name, which makes calendar event UIDs unique worldwide."""
    return urlsplit(base_url).hostname or "intrex"
