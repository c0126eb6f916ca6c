"""Identity triggers: the contact directory, the welcome, and erasure (confirmation sent
before the address is erased, log anonymised, erasure.completed published)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import identity as idc
from contracts import notifications as nc
from kit.testing import eventually

from .conftest import add_contact, client, mails_for, publish, published, text_of

WELCOME = {
    "fi": "Tervetuloa Kohtaamoon, Name {u}!",
    "sv": "Välkommen till Kohtaamo, Name {u}!",
    "en": "Welcome to Kohtaamo, Name {u}!",
}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_welcome_on_sign_up(started: Any, mailbox: Any, language: str) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language=language)
    await publish(
        svc,
        idc.USER_REGISTERED,
        {"user_id": user, "roles": ["resident"], "registered_at": datetime.now(UTC).isoformat()},
    )
    [mail] = await mails_for(box, address)
    assert mail["Subject"] == WELCOME[language].format(u=user)


async def test_welcome_waits_for_contact_arriving_later(
    started: Any, mailbox: Any, notif_settings: Any
) -> None:
    svc = await started(notif_settings(notice_retry_delays_s=[0.3, 0.5, 1.0, 2.0]))
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    await publish(
        svc,
        idc.USER_REGISTERED,
        {"user_id": user, "roles": ["resident"], "registered_at": datetime.now(UTC).isoformat()},
    )

    async def retrying() -> bool:
        n = await svc.store.db.notices.find_one({"user_id": user, "channel": "email"})
        return n is not None and n["attempts"] >= 1

    await eventually(retrying)
    address = await add_contact(svc, user, language="en")
    [mail] = await mails_for(box, address)
    assert mail["Subject"] == f"Welcome to Kohtaamo, Name {user}!"


async def test_erasure_confirms_then_erases_everything(
    started: Any, mailbox: Any, issuer: Any
) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language="sv")
    await publish(
        svc,
        idc.USER_REGISTERED,
        {"user_id": user, "roles": ["resident"], "registered_at": datetime.now(UTC).isoformat()},
    )
    await mails_for(box, address)
    await publish(
        svc, idc.USER_ERASED, {"user_id": user, "requested_at": datetime.now(UTC).isoformat()}
    )

    mails = await mails_for(box, address, 2)
    assert mails[1]["Subject"] == "Dina uppgifter har raderats"
    assert f"Hej Name {user}" in text_of(mails[1])

    async def erased() -> bool:
        return await svc.store.db.contacts.count_documents({"_id": user}) == 0

    await eventually(erased)
    db = svc.store.db
    assert await db.notices.count_documents({"user_id": user}) == 0
    kept = await db.notices.find({"user_id": "erased"}).to_list()
    assert kept and all(n["context"] == {} for n in kept)  # log kept, anonymised
    async with client(svc) as http:
        inbox = await http.get("/notifications/inbox", headers=issuer.headers(sub=user))
    assert inbox.json()["items"] == []
    # A contact.changed that was overtaken by the erasure does not bring the user back.
    await publish(
        svc, idc.CONTACT_CHANGED, {"user_id": user, "display_name": "Late", "email": address}
    )

    async def late_handled() -> bool:
        return await db.inbox.count_documents({}) >= 4  # contact, registered, erased, late

    await eventually(late_handled)
    assert await db.contacts.count_documents({"_id": user}) == 0
    [completed] = await published(svc, nc.ERASURE_COMPLETED)
    assert completed["data"]["user_id"] == user
    assert completed["data"]["records_erased"] >= 1
