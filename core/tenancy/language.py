"""A person's language choice (`/language`), kept on their user row and audited."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record_update, snapshot
from core.db.enums import Language
from core.errors import ErrorCode, ValidationError
from core.i18n import parse_language
from core.tenancy.models import User
from core.tenancy.scope import Actor


async def set_language(session: AsyncSession, actor: Actor, value: str) -> Language:
    language = parse_language(value)
    if language is None or language.value != value.strip().lower():
        raise ValidationError(ErrorCode.language_unknown, value=value)
    user = await session.get_one(User, actor.user_id)
    before = snapshot(user, exclude={"password_hash"})
    user.language = language.value
    await record_update(
        session,
        user,
        before,
        tenant_id=actor.tenant_id,
        action="user.language",
        entity_type="user",
        user_id=actor.user_id,
        exclude={"password_hash"},
    )
    return language
