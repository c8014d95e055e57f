"""Signing in to the dashboard (SPEC §9): Telegram's Web App data, login links, sessions.

There is no password: the person is known by their linked Telegram account.
- Inside Telegram, the Web App hands the page `initData`, which Telegram signs with a key
  derived from the bot token (`verify_init_data`); it names the Telegram user, and the
  linked active user of that id signs in.
- On a desktop, `/dashboard` gives a single-use link (`issue_login_link`, 10 minutes, only
  its hash stored), redeemed once (`redeem_login_link`).
- Either way a session row is written (`open_session`, 8 hours) and the browser gets a
  cookie naming the tenant and the session token, signed with a key derived from the
  encryption keys (`CookieSigner`). Every request reloads the session under the tenant's
  row-level security and then the person (`core.tenancy.scope.load_actor`), so a disabled
  person or a changed role takes effect at the next click; logout deletes the row.

The URLs carry no tenant, so the login link is found on the system path by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qsl

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc_now
from core.crypto import SecretBox, hash_token, new_token
from core.dashboard.models import WebLoginToken, WebSession
from core.db.enums import UserStatus
from core.db.session import Database
from core.errors import ErrorCode, NotFoundError, PermissionDeniedError, ValidationError
from core.tenancy.models import User
from core.tenancy.scope import Actor

LOGIN_LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)
INIT_DATA_MAX_AGE = timedelta(hours=24)
INIT_DATA_MAX_LENGTH = 8192
"""Telegram's initData is a few hundred bytes; anything far longer is not from Telegram."""
SESSION_KEY_PURPOSE = "web-session"
SignInMethod = Literal["telegram", "link"]


@dataclass(frozen=True)
class SignedIn:
    """Who is signing in, once proven: their tenant and user id."""

    tenant_id: uuid.UUID
    user_id: int


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the token for the cookie (`CookieSigner.sign`) and its CSRF token."""

    tenant_id: uuid.UUID
    token: str
    csrf_token: str
    expires_at: datetime
    method: SignInMethod


def verify_init_data(init_data: str, bot_token: str, *, now: datetime | None = None) -> int:
    """The Telegram user id that Telegram's Web App `initData` names, once its signature and
    age are checked, as Telegram documents: the data-check string is every field but `hash`,
    sorted, as `key=value` lines; the secret key is HMAC-SHA256 of the bot token under the
    key "WebAppData"; `hash` is the hex HMAC-SHA256 of the data-check string under it.

    Forged data, data signed for another bot, and data without a user are `sign_in_invalid`;
    data older than 24 hours (by `auth_date`) is `sign_in_stale`.
    """
    if not init_data or len(init_data) > INIT_DATA_MAX_LENGTH:
        raise ValidationError(ErrorCode.sign_in_invalid)
    try:
        fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
    except ValueError as exc:
        raise ValidationError(ErrorCode.sign_in_invalid) from exc
    received = fields.pop("hash", "")
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode("utf-8"), hashlib.sha256).digest()
    expected = hmac.new(secret, check_string.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, received):
        raise ValidationError(ErrorCode.sign_in_invalid)
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), UTC)
        user = json.loads(fields["user"])
        telegram_user_id = int(user["id"])
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise ValidationError(ErrorCode.sign_in_invalid) from exc
    moment = utc_now(now)
    if signed_at < moment - INIT_DATA_MAX_AGE or signed_at > moment + timedelta(minutes=5):
        raise ValidationError(ErrorCode.sign_in_stale)
    return telegram_user_id


async def find_telegram_user(db: Database, telegram_user_id: int) -> SignedIn:
    """The active user linked to this Telegram account (system path: no tenant is known yet)."""
    rows = await db.system_fetch(
        select(User.tenant_id, User.id).where(
            User.telegram_user_id == telegram_user_id, User.status == UserStatus.active.value
        ),
        {},
    )
    if not rows:
        raise PermissionDeniedError(ErrorCode.sign_in_not_linked)
    return SignedIn(tenant_id=rows[0]["tenant_id"], user_id=rows[0]["id"])


async def issue_login_link(
    session: AsyncSession, actor: Actor, *, now: datetime | None = None
) -> str:
    """A single-use login token for the acting person, valid for 10 minutes.

    Their used and expired tokens are removed on the way, so the table holds only what is
    still redeemable.
    """
    moment = utc_now(now)
    user_id = actor.person_id
    await session.execute(
        delete(WebLoginToken).where(
            WebLoginToken.user_id == user_id,
            (WebLoginToken.used_at.is_not(None)) | (WebLoginToken.expires_at <= moment),
        )
    )
    token = new_token()
    session.add(
        WebLoginToken(
            tenant_id=actor.tenant_id,
            user_id=user_id,
            token_hash=hash_token(token),
            expires_at=moment + LOGIN_LINK_TTL,
        )
    )
    await session.flush()
    return token


async def redeem_login_link(db: Database, token: str, *, now: datetime | None = None) -> SignedIn:
    """Use a login token once: unknown, used, expired, or of a person no longer active are
    all `login_link_invalid` (one answer, so a guess learns nothing)."""
    if not token or len(token) > 128:
        raise NotFoundError(ErrorCode.login_link_invalid)
    moment = utc_now(now)
    active = select(User.id).where(
        User.tenant_id == WebLoginToken.tenant_id,
        User.id == WebLoginToken.user_id,
        User.status == UserStatus.active.value,
    )
    async with db.system_uow() as session:
        row = (
            await session.execute(
                update(WebLoginToken)
                .where(
                    WebLoginToken.token_hash == hash_token(token),
                    WebLoginToken.used_at.is_(None),
                    WebLoginToken.expires_at > moment,
                    active.exists(),
                )
                .values(used_at=moment)
                .returning(WebLoginToken.tenant_id, WebLoginToken.user_id)
            )
        ).first()
    if row is None:
        raise NotFoundError(ErrorCode.login_link_invalid)
    return SignedIn(tenant_id=row.tenant_id, user_id=row.user_id)


async def open_session(
    db: Database, signed_in: SignedIn, method: SignInMethod, *, now: datetime | None = None
) -> OpenedSession:
    """Write a session for a proven person (8 hours), in their tenant's transaction; their
    expired sessions are removed on the way."""
    moment = utc_now(now)
    token, csrf = new_token(), new_token()
    expires = moment + SESSION_TTL
    async with db.tenant_uow(signed_in.tenant_id) as session:
        await session.execute(
            delete(WebSession).where(
                WebSession.user_id == signed_in.user_id, WebSession.expires_at <= moment
            )
        )
        session.add(
            WebSession(
                tenant_id=signed_in.tenant_id,
                user_id=signed_in.user_id,
                token_hash=hash_token(token),
                csrf_token=csrf,
                signed_in_with=method,
                expires_at=expires,
            )
        )
    return OpenedSession(signed_in.tenant_id, token, csrf, expires, method)


@dataclass(frozen=True)
class LiveSession:
    """A session found live: whose, its CSRF token, and how it was opened."""

    user_id: int
    csrf_token: str
    method: SignInMethod
    expires_at: datetime


async def find_session(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> LiveSession | None:
    """The live session of this token in the transaction's tenant, or None."""
    row = (
        await session.execute(
            select(
                WebSession.user_id,
                WebSession.csrf_token,
                WebSession.signed_in_with,
                WebSession.expires_at,
            ).where(
                WebSession.token_hash == hash_token(token), WebSession.expires_at > utc_now(now)
            )
        )
    ).first()
    if row is None:
        return None
    method: SignInMethod = "telegram" if row.signed_in_with == "telegram" else "link"
    return LiveSession(row.user_id, row.csrf_token, method, row.expires_at)


async def end_session(session: AsyncSession, token: str) -> None:
    """Logout, or a person found disabled: the session row goes, the cookie is then worthless."""
    await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


class CookieSigner:
    """The session cookie's value: `TENANT.TOKEN.SIGNATURE`.

    The tenant tells the server which tenant's transaction to look the session up in (the
    lookup itself runs under row-level security); the signature (HMAC-SHA256 under a key
    derived from the encryption keys) refuses a cookie whose tenant or token was altered
    before any database work.
    """

    def __init__(self, secrets: SecretBox) -> None:
        self._key = secrets.derive_key(SESSION_KEY_PURPOSE)

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, tenant_id: uuid.UUID, token: str) -> str:
        payload = f"{tenant_id.hex}.{token}"
        return f"{payload}.{self._signature(payload)}"

    def unsign(self, value: str | None) -> tuple[uuid.UUID, str] | None:
        """The tenant and token of a cookie this server signed; None for anything else."""
        if not value or len(value) > 256 or not value.isascii():
            return None
        parts = value.split(".")
        if len(parts) != 3:
            return None
        tenant, token, signature = parts
        if not hmac.compare_digest(self._signature(f"{tenant}.{token}"), signature):
            return None
        try:
            return uuid.UUID(hex=tenant), token
        except ValueError:
            return None
