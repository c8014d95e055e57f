"""How a person is named on every surface and in the audit."""

from __future__ import annotations


def person_name(
    full_name: str | None,
    telegram_name: str | None,
    telegram_username: str | None,
    email: str | None,
    user_id: int | None,
) -> str:
    """Who someone is, as people recognise them: "Karim Ahmed (@karim_dhk)", never "User 4".

    The name head office gave them, else their Telegram name, else their email; their
    Telegram @username beside it when they have one; `#id` when nothing else is known.
    """
    base = full_name or telegram_name or email
    if telegram_username:
        return f"{base} (@{telegram_username})" if base else f"@{telegram_username}"
    return base or f"#{user_id}"
