"""SMS through a configurable HTTP adapter (an SMS gateway's REST API or a small bridge):
POST {"to", "text", "reference"} as JSON with a bearer token; 2xx means accepted."""

from __future__ import annotations

import httpx

from notifications.email import PermanentFailure
from notifications.settings import NotificationsSettings


class SmsAdapter:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None  # made on first use, inside the loop

    async def send(self, *, to: str, text: str, reference: str) -> None:
        if not self.settings.sms_url:
            raise PermanentFailure("SMS is not configured (KOHTAAMO_SMS_URL)")
        headers = {}
        token = self.settings.sms_token.get_secret_value()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.sms_timeout_s)
        response = await self._client.post(
            self.settings.sms_url,
            json={"to": to, "text": text, "reference": reference},
            headers=headers,
        )
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise PermanentFailure(f"SMS adapter refused: HTTP {response.status_code}")
        response.raise_for_status()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
