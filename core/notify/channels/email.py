"""Email through an SMTP server with aiosmtplib: plain text and HTML in one message."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from core.notify.channels.base import Delivery, DeliveryError
from core.notify.channels.http import text_of
from core.notify.redaction import Redactor
from core.notify.render import with_link
from core.validation import is_email_address


class EmailChannel:
    """Config: `host`, `port`, `security` (`starttls`, `tls` or `none`), optional `username`
    and `password`, and `from`."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    async def send(self, config: dict[str, Any], delivery: Delivery) -> None:
        """Send, or raise a DeliveryError whose text has the login redacted (servers quote
        the user name, sometimes the password, in their refusals)."""
        try:
            await self._send(config, delivery)
        except DeliveryError as exc:
            raise Redactor.for_connector(config).failure(exc) from exc.__cause__

    async def _send(self, config: dict[str, Any], delivery: Delivery) -> None:
        recipient = delivery.recipient.strip()
        if not is_email_address(recipient):
            raise DeliveryError(f"{recipient!r} is not an email address", permanent=True)
        sender = text_of(config, "from")
        rendered = with_link(delivery.message, delivery.dashboard_url)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = recipient
        message["Subject"] = rendered.subject
        message["Message-ID"] = make_msgid(idstring=str(delivery.idempotency_key)[:8])
        message["X-Intrex-Delivery"] = str(delivery.idempotency_key)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        security = config.get("security", "starttls")
        try:
            await aiosmtplib.send(
                message,
                hostname=text_of(config, "host"),
                port=int(config.get("port", 587)),
                username=config.get("username") or None,
                password=config.get("password") or None,
                use_tls=security == "tls",
                start_tls=security == "starttls",
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {recipient}", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", permanent=permanent) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP unavailable: {exc}", permanent=False) from exc

    async def close(self) -> None:
        return None
