"""Email verification and password reset end to end: identity and notifications as the
site runs them (their own broker users on a vhost of this module, their own databases),
the links mailed through a real SMTP server (aiosmtpd) in fi, sv and en, and used over
identity's HTTP API."""

from __future__ import annotations

import email
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from email import policy
from email.message import EmailMessage
from typing import Any

import aio_pika
import httpx
import pytest
from aiosmtpd.controller import Controller

from identity import municipality
from identity.core import identity_of
from identity.main import service as identity_service
from identity.municipality import MunicipalityIn
from identity.settings import IdentitySettings
from kit import localstore
from kit.app import Service
from kit.testing import eventually
from notifications.main import service as notifications_service
from notifications.settings import NotificationsSettings

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a whole new staple"
LINK = re.compile(r"/app/#/(verify-email|reset-password)/([A-Za-z0-9_.-]+)")


class Mailbox:
    """What the SMTP server received (aiosmtpd runs in its own thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

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

    async def wait(self, address: str, count: int = 1) -> list[EmailMessage]:
        async def arrived() -> bool:
            return len(self.to(address)) >= count

        await eventually(arrived, timeout=30)
        return self.to(address)


def link_in(message: EmailMessage) -> tuple[str, str]:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(str(body.get_content()))
    assert found, body.get_content()
    return found.group(1), found.group(2)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = localstore.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
async def platform(
    make_settings: Callable[..., Any],
    make_vhost: Callable[..., str],
    mailbox: tuple[Mailbox, int],
) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    """Identity and notifications on a vhost of this module; identity's HTTP API."""
    vhost = make_vhost("account-mails", "module")
    identity: Service = identity_service(
        make_settings(
            "identity",
            IdentitySettings,
            amqp_url=vhost,
            identity_url="http://identity.test",
            key_encryption_secret="test-key-encryption-secret",
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            trusted_proxies=[],
        )
    )
    notifications: Service = notifications_service(
        make_settings(
            "notifications",
            NotificationsSettings,
            amqp_url=vhost,
            smtp_port=mailbox[1],
            sender_poll_s=0.1,
            notice_retry_delays_s=[0.2, 0.2],
            digest_poll_s=3600.0,
        )
    )
    running: list[Service] = []
    connection = await aio_pika.connect_robust(vhost)
    try:
        identity_app = identity.create_app()
        notifications.create_app()  # its routes and lifespan parts, as served
        for svc in (identity, notifications):  # identity's exchange exists before binding
            await svc.start()
            running.append(svc)
        # Stand-ins for the other consumers of both services' events (analytics and the
        # rest), so their outboxes have somewhere to route everything.
        channel = await connection.channel()
        for producer in ("identity", "notifications"):
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(f"kohtaamo.{producer}.events", routing_key="#")
        await municipality.ensure(
            identity_of(identity), MunicipalityIn(slug="helsinki", name={"fi": "Helsinki"})
        )
        transport = httpx.ASGITransport(app=identity_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity.test") as c:
            yield c, identity
    finally:
        for svc in reversed(running):
            await svc.stop()
        await connection.close()


@pytest.fixture
def site(platform: tuple[httpx.AsyncClient, Service]) -> httpx.AsyncClient:
    return platform[0]


async def sign_up(client: httpx.AsyncClient, language: str) -> dict[str, Any]:
    address = f"mail-{uuid.uuid4().hex[:10]}@example.fi"
    body = {
        "municipality": "helsinki",
        "email": address,
        "password": PASSWORD,
        "display_name": "Posti Testaaja",
        "language": language,
        "accept_terms": True,
    }
    answer = await client.post("/auth/signup", json=body)
    assert answer.status_code == 201, answer.text
    out: dict[str, Any] = answer.json()
    out["email"] = address
    out["headers"] = {"Authorization": f"Bearer {out['tokens']['access_token']}"}
    return out


SUBJECTS = {
    "fi": ("Vahvista sähköpostiosoitteesi Kohtaamoon", "Aseta uusi salasana Kohtaamoon"),
    "sv": ("Bekräfta din e-postadress för Kohtaamo", "Välj ett nytt lösenord för Kohtaamo"),
    "en": ("Verify your email for Kohtaamo", "Set a new password for Kohtaamo"),
}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_sign_up_mails_a_verification_link_that_works_once(
    site: httpx.AsyncClient, mailbox: tuple[Mailbox, int], language: str
) -> None:
    box, _ = mailbox
    account = await sign_up(site, language)
    assert (await site.get("/me", headers=account["headers"])).json()["email_verified"] is False
    [mail] = [
        m for m in await box.wait(account["email"], 2) if m["Subject"] == SUBJECTS[language][0]
    ]
    kind, token = link_in(mail)
    assert kind == "verify-email"

    verified = await site.post("/auth/email/verify", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"email": account["email"], "email_verified": True}
    assert (await site.get("/me", headers=account["headers"])).json()["email_verified"] is True
    again = await site.post("/auth/email/verify", json={"token": token})
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "token"
    asked = await site.post("/me/email/verification", headers=account["headers"])
    assert asked.status_code == 409


async def test_bad_verification_tokens_are_refused_naming_the_field(
    site: httpx.AsyncClient, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    account = await sign_up(site, "en")
    [mail] = [m for m in await box.wait(account["email"], 2) if "Verify" in m["Subject"]]
    _, token = link_in(mail)
    link_id, expires, signature = token.split(".")
    forged = (
        f"{link_id}.{int(expires) + 3600}.{signature}",  # a longer life, same signature
        f"{link_id}.{expires}.{signature[:-2]}AA",
        f"{link_id}x.{expires}.{signature}",
        "no-dots",
        "a.9" + "9" * 30 + ".b",
        "x" * 500,
    )
    for bad in forged:
        answer = await site.post("/auth/email/verify", json={"token": bad})
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["errors"][0]["field"] == "token"
    # A reset token is not a verification token, nor the other way round.
    wrong = await site.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    for bad in ({}, {"token": ""}, {"token": "x" * 501}, {"token": "a", "extra": 1}):
        assert (await site.post("/auth/email/verify", json=bad)).status_code == 422
    # The real token still works after all that.
    assert (await site.post("/auth/email/verify", json={"token": token})).status_code == 200


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    site: httpx.AsyncClient, mailbox: tuple[Mailbox, int], language: str
) -> None:
    box, _ = mailbox
    account = await sign_up(site, language)
    await box.wait(account["email"], 2)  # welcome and verification
    asked = await site.post(
        "/auth/password/forgot", json={"municipality": "helsinki", "email": account["email"]}
    )
    assert asked.status_code == 202, asked.text
    [mail] = [
        m for m in await box.wait(account["email"], 3) if m["Subject"] == SUBJECTS[language][1]
    ]
    kind, token = link_in(mail)
    assert kind == "reset-password"

    weak = await site.post("/auth/password/reset", json={"token": token, "new_password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    done = await site.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 204, done.text
    replay = await site.post(
        "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD + "!"}
    )
    assert replay.status_code == 400 and replay.json()["errors"][0]["field"] == "token"

    # Every session ended: the refresh token and the access token of before.
    refresh = {"refresh_token": account["tokens"]["refresh_token"]}
    assert (await site.post("/auth/refresh", json=refresh)).status_code == 401

    async def access_ended() -> bool:
        return (await site.get("/me", headers=account["headers"])).status_code == 401

    await eventually(access_ended, timeout=30)
    login = {"municipality": "helsinki", "email": account["email"]}
    old = await site.post("/auth/login", json={**login, "password": PASSWORD})
    assert old.status_code == 401
    new = await site.post("/auth/login", json={**login, "password": NEW_PASSWORD})
    assert new.status_code == 200, new.text


async def test_forgot_password_does_not_tell_who_has_an_account(
    site: httpx.AsyncClient, mailbox: tuple[Mailbox, int], platform: tuple[Any, Service]
) -> None:
    box, _ = mailbox
    account = await sign_up(site, "fi")
    await box.wait(account["email"], 2)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.fi"
    answers = []
    for address in (account["email"], unknown, account["email"].upper()):
        answer = await site.post(
            "/auth/password/forgot", json={"municipality": "helsinki", "email": address}
        )
        answers.append((answer.status_code, answer.headers["content-type"], answer.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    # The known address gets its links (two asks: both), the unknown one nothing. With the
    # sign-up's verification link that is 3 within the hour, the most an account is sent:
    # two more asks send nothing.
    await box.wait(account["email"], 4)
    for _ in range(2):
        await site.post(
            "/auth/password/forgot", json={"municipality": "helsinki", "email": account["email"]}
        )
    db = platform[1].store.db
    links = await db.account_links.find({"user_id": account["user"]["id"]}).to_list()
    assert sorted(link["purpose"] for link in links) == [
        "reset_password",
        "reset_password",
        "verify_email",
    ]
    assert await db.account_links.count_documents({"email": unknown}) == 0
    assert box.to(unknown) == []
    hostile = (
        {"municipality": "helsinki", "email": "not-an-email"},
        {"municipality": "helsinki", "email": {"$gt": ""}},
        {"municipality": "x" * 41, "email": account["email"]},
        {"email": account["email"]},
    )
    for body in hostile:
        answer = await site.post("/auth/password/forgot", json=body)
        assert answer.status_code == 422, (body, answer.text)
