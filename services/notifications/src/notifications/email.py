"""Email over SMTP (aiosmtplib): a small pool of open connections reused across messages,
so a fan-out does not pay a TCP and SMTP handshake per mail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from notifications.calendar import Attachment
from notifications.settings import NotificationsSettings
from notifications.templates import Rendered


class PermanentFailure(Exception):
    """The channel refused the message for good (e.g. a 5xx recipient refusal)."""


def build_message(
    *,
    sender: str,
    to: str,
    rendered: Rendered,
    notice_id: str,
    ics: Attachment | Sequence[Attachment] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=notice_id, domain="kohtaamo.fi")
    message["X-Kohtaamo-Notice"] = notice_id
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    calendars = [ics] if isinstance(ics, Attachment) else list(ics or [])
    for n, attached in enumerate(calendars):
        message.add_attachment(
            attached.data,
            maintype="text",
            subtype="calendar",
            filename="kohtaamo.ics" if n == 0 else f"kohtaamo-{n + 1}.ics",
            params={"method": attached.method},
        )
    # After the body: building multiparts moves Content-* headers into the first part.
    message["Content-Language"] = rendered.language
    return message


class Mailer:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(max(1, settings.smtp_connections))

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            use_tls=s.smtp_tls,
            start_tls=s.smtp_starttls if not s.smtp_tls else False,
        )
        await client.connect()
        if s.smtp_username:
            await client.login(s.smtp_username, s.smtp_password.get_secret_value())
        return client

    async def send(self, message: EmailMessage) -> None:
        async with self._slots:
            client = self._idle.get_nowait() if not self._idle.empty() else None
            if client is None or not client.is_connected:
                client = await self._connect()
            try:
                await client.send_message(message)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._idle.put_nowait(client)
                raise PermanentFailure(f"recipient refused: {exc}") from exc
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    self._idle.put_nowait(client)
                    raise PermanentFailure(f"SMTP {exc.code}: {exc.message}") from exc
                await self._discard(client)
                raise
            except Exception:
                await self._discard(client)
                raise
            self._idle.put_nowait(client)

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(Exception):
            client.close()

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await client.quit()
