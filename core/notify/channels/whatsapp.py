"""WhatsApp Business through the Cloud API: a text message to an E.164 phone number."""

from __future__ import annotations

import json
import re
from typing import Any

from core.notify.channels.base import Delivery, DeliveryError
from core.notify.channels.http import GuardedHttp, text_of
from core.notify.render import with_link

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
E164 = re.compile(r"^\+?[1-9]\d{6,14}$")
MAX_TEXT = 4096


def _body(delivery: Delivery) -> str:
    """The alert's text with its dashboard link; the link is kept if the text must be cut."""
    full = with_link(delivery.message, delivery.dashboard_url).text
    if len(full) <= MAX_TEXT:
        return full
    link = full[len(delivery.message.text) :]
    return delivery.message.text[: MAX_TEXT - len(link) - 1] + "…" + link


class WhatsAppChannel:
    """Config: `phone_number_id`, `access_token`, optional `base_url` (a self-hosted gateway)."""

    def __init__(self, http: GuardedHttp) -> None:
        self._http = http

    async def send(self, config: dict[str, Any], delivery: Delivery) -> None:
        phone = delivery.recipient.replace(" ", "")
        if not E164.fullmatch(phone):
            raise DeliveryError(f"{delivery.recipient!r} is not a phone number", permanent=True)
        base = str(config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/{text_of(config, 'phone_number_id')}/messages"
        body = json.dumps(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": phone.lstrip("+"),
                "type": "text",
                "text": {"preview_url": False, "body": _body(delivery)},
                "biz_opaque_callback_data": str(delivery.idempotency_key),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {text_of(config, 'access_token')}",
            "Idempotency-Key": str(delivery.idempotency_key),
        }
        await self._http.post(url, body=body, headers=headers)

    async def close(self) -> None:
        await self._http.close()
