"""Notifications settings (`KOHTAAMO_` env vars). SMTP and SMS secrets come only from here."""

from __future__ import annotations

from pydantic import Field, SecretStr

from kit.settings import KitSettings


class NotificationsSettings(KitSettings):
    service: str = "notifications"

    # Email over SMTP. Default: a local catcher (`kohtaamo-smtp-catcher`) on port 8025.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_s: float = 10.0
    smtp_connections: int = 4
    mail_from: str = "Kohtaamo <no-reply@kohtaamo.fi>"

    # SMS through an HTTP adapter: POST {"to", "text", "reference"} with a bearer token.
    # Empty URL: SMS is not configured and SMS notices fail with that reason.
    sms_url: str = ""
    sms_token: SecretStr = SecretStr("")
    sms_timeout_s: float = 10.0

    # The sender loop: due notices read at once (the store reads every match of a find,
    # whatever its limit), claimed and sent a batch at a time (the store's `$in` slows
    # quadratically above ~50 ids); lease of a claimed notice; retries with backoff.
    sender_poll_s: float = 0.5
    sender_window: int = 500
    sender_batch: int = 50
    sender_lease_s: float = 120.0
    notice_retry_delays_s: list[float] = Field(default_factory=lambda: [30.0, 120.0, 600.0, 3600.0])

    # Reminders a day before (hours before start), checked every reminder_poll_s.
    reminder_lead_hours: float = 24.0
    reminder_poll_s: float = 30.0
    # Staff morning digest of pending approvals, at this local hour.
    digest_hour: int = 8
    digest_poll_s: float = 300.0

    fallback_language: str = "fi"
    # Link shown in messages (the reference web UI).
    app_url: str = "http://127.0.0.1:8000"
