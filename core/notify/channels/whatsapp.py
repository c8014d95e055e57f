"""WhatsApp Business through the Cloud API: a text message to an E.164 phone number."""

from __future__ import annotations

import json
import re
from typing import Any

from core.notify.channels.base import Delivery, DeliveryError
from core.notify.channels.http import GuardedHttp, text_of

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
E164 = re.compile(r"^\+?[1-9]\d{6,14}$")


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
                "text": {"preview_url": False, "body": delivery.message.text[:4096]},
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
