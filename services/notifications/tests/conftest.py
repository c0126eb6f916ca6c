"""Fixtures: a real SMTP server (aiosmtpd), a real HTTP server standing in for the SMS
gateway, the real broker and store (kit's pytest plugin), tokens from a TestIssuer."""

from __future__ import annotations

import asyncio
import email
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aio_pika.abc import AbstractQueue
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from icalendar import Calendar, Event

from contracts import identity as idc
from kit import localstore
from kit.app import Service
from kit.testing import TestIssuer, envelope, eventually, partner_signer, publish_as_producer
from notifications.main import service
from notifications.settings import NotificationsSettings


class Mailbox:
    """Collects what the SMTP server received (runs in aiosmtpd's own thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(
            envelope.content, _class=EmailMessage, policy=policy.default
        )
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def calendar_of(message: EmailMessage) -> str | None:
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            return content.decode() if isinstance(content, bytes) else str(content)
    return None


def entry_of(message: EmailMessage) -> tuple[str, Calendar, Event]:
    """The mail's calendar attachment parsed with `icalendar`: the METHOD its MIME type
    names, the calendar and its one entry."""
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    ics = calendar_of(message)
    assert ics is not None
    cal = Calendar.from_ical(ics)
    [entry] = cal.walk("VEVENT")
    return str(part.get_param("method")), cal, entry


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = localstore.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


class SmsGateway:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.tokens: list[str | None] = []


@pytest.fixture
def sms_gateway() -> Iterator[tuple[SmsGateway, str]]:
    gateway = SmsGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            gateway.tokens.append(self.headers.get("Authorization"))
            if gateway.status == 200:
                gateway.received.append(body)
            self.send_response(gateway.status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway, f"http://127.0.0.1:{server.server_address[1]}/sms"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def notif_settings(
    make_settings: Callable[..., Any], mailbox: tuple[Mailbox, int], sms_gateway: tuple[Any, str]
) -> Callable[..., NotificationsSettings]:
    def make(**overrides: Any) -> NotificationsSettings:
        values: dict[str, Any] = {
            "smtp_port": mailbox[1],
            "sms_url": sms_gateway[1],
            "sms_token": "sms-secret",
            "sender_poll_s": 0.1,
            "notice_retry_delays_s": [0.2, 0.2],
            "reminder_poll_s": 0.2,
            "digest_poll_s": 3600.0,
            # Espoo's site as a trusted partner: the forgery tests sign as it.
            "event_signers": [partner_signer()],
        }
        values.update(overrides)
        made: NotificationsSettings = make_settings(
            "notifications", cls=NotificationsSettings, **values
        )
        return made

    return make


@dataclass
class Observed:
    """What a test sees of a started service: its app (the ASGI transport runs no
    lifespan), a queue bound to its exchange and the events read from it so far (a part
    of the service: svc.part(Observed))."""

    app: FastAPI
    published: AbstractQueue
    seen: list[Any] = field(default_factory=list)


@pytest.fixture
async def started(
    notif_settings: Callable[..., NotificationsSettings], issuer: TestIssuer
) -> AsyncIterator[Callable[..., Any]]:
    """Start notifications services (each its own store unless given settings)."""
    running: list[Service] = []

    async def start(settings: NotificationsSettings | None = None) -> Service:
        svc = service(settings or notif_settings())
        svc.verifier.trust(issuer.issuer, issuer.jwks)
        app = svc.create_app()
        await svc.start()
        running.append(svc)
        # Stands in for the consumers of notifications' events (analytics), so the outbox
        # has somewhere to route them and tests can read them.
        connection = svc.bus.broker._connection  # the service's own broker user
        assert connection is not None  # started
        channel = await connection.channel()
        # Named as the service's own queues: its broker user may declare only those.
        queue = await channel.declare_queue(
            f"kohtaamo.notifications.test-notices-{uuid.uuid4().hex[:12]}", auto_delete=True
        )
        await queue.bind("kohtaamo.notifications.events", routing_key="#")
        svc.provide(Observed(app=app, published=queue))
        return svc

    yield start
    for svc in running:
        if svc.started:
            await svc.stop()


def client(svc: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.part(Observed).app),
        base_url="http://notifications.test",
    )


async def publish(
    svc: Service, type_: str, data: dict[str, Any], *, municipality: str = "helsinki"
) -> str:
    event = envelope(type_, data, municipality=municipality)
    await publish_as_producer(svc.settings, event)
    return event.id


async def add_contact(
    svc: Service,
    user_id: str,
    *,
    language: str = "fi",
    email_address: str | None = None,
    phone: str | None = None,
    municipality: str = "helsinki",
    **extra: Any,
) -> str:
    address = email_address if email_address is not None else f"{user_id}@example.org"
    data = {
        "user_id": user_id,
        "display_name": f"Name {user_id}",
        "email": address or None,
        "phone": phone,
        "language": language,
        **extra,
    }
    await publish(svc, idc.CONTACT_CHANGED, data, municipality=municipality)

    async def known() -> bool:
        c = await svc.store.db.contacts.find_one({"_id": user_id})
        return c is not None and c.get("display_name") == data["display_name"]

    await eventually(known)
    return address


async def mails_for(
    box: Mailbox, address: str, count: int = 1, timeout: float = 15.0
) -> list[EmailMessage]:
    async def arrived() -> bool:
        return len(box.to(address)) >= count

    await eventually(arrived, timeout=timeout)
    return box.to(address)


async def settle(seconds: float = 0.5) -> None:
    await asyncio.sleep(seconds)


async def published(svc: Service, type_: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
    """Envelopes of `type_` the service published (read from the broker)."""
    observed = svc.part(Observed)
    seen = observed.seen

    async def enough() -> bool:
        while (message := await observed.published.get(no_ack=True, fail=False)) is not None:
            seen.append(json.loads(message.body))
        return len([e for e in seen if e["type"] == type_]) >= count

    await eventually(enough, timeout=timeout)
    return [e for e in seen if e["type"] == type_]
