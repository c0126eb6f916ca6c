"""Identity triggers: the contact directory, the welcome, and erasure (confirmation sent
before the address is erased, log anonymised, erasure.completed published)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import identity as idc
from contracts import notifications as nc
from contracts import topology
from kit.testing import (
    dead_letters,
    envelope,
    eventually,
    forgeries,
    publish_as_producer,
    publish_raw,
)

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


async def test_forged_contact_changes_are_dead_lettered_and_change_nothing(
    started: Any, amqp_url: str
) -> None:
    """Forged `identity.contact.changed` redirecting a user's mail (booking confirmations
    carry door codes; issue 19): unsigned, an unknown key, a partner site for another
    municipality, a valid signature over an altered address, a type the signer may not
    publish, a future time. Each is dead-lettered with its reason and the contact is as
    before; a genuine change after them applies."""
    svc = await started()
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language="en")
    before = await svc.store.db.contacts.find_one({"_id": user})
    redirect = {"user_id": user, "display_name": f"Name {user}", "email": "thief@example.org"}
    forged = forgeries(idc.CONTACT_CHANGED, redirect, {"email": "thief2@example.org"})
    genuine = envelope(idc.CONTACT_CHANGED, {**redirect, "user_id": f"{user}-2"})
    await publish_raw(
        amqp_url,
        topology.exchange("identity"),
        genuine.routing_key,
        *(doc for _, _, doc in forged.values()),
        genuine.model_dump(mode="json"),
    )

    async def went_on() -> bool:
        return await svc.store.db.contacts.find_one({"_id": f"{user}-2"}) is not None

    await eventually(went_on, timeout=30)
    letters = await dead_letters(
        amqp_url, "kohtaamo.notifications.identity", {doc["id"] for _, _, doc in forged.values()}
    )
    got = {name: letters[doc["id"]][0] for name, (_, _, doc) in forged.items()}
    assert got == {name: reason for name, (reason, _, _) in forged.items()}
    for name, (_, error, doc) in forged.items():
        assert error in letters[doc["id"]][1], name
    after = await svc.store.db.contacts.find_one({"_id": user})
    assert after == before and after["email"] == address


async def test_contact_changes_keep_the_latest_never_trusting_a_clock_ahead(
    started: Any,
) -> None:
    """Latest wins by `Delivery.time`: a change retried after a newer one does not bring the
    old address back, and a change dated ahead of this site's clock (within the allowed
    skew) counts from its arrival, so a genuine change right after it applies."""
    from datetime import timedelta

    svc = await started()
    user = f"u-{uuid.uuid4().hex[:6]}"
    await add_contact(svc, user, email_address=f"{user}-new@example.org")

    def change(email: str, at: datetime) -> Any:
        data = {"user_id": user, "display_name": f"Name {user}", "email": email}
        return envelope(idc.CONTACT_CHANGED, data, time=at)

    async def email_is(address: str) -> bool:
        contact = await svc.store.db.contacts.find_one({"_id": user})
        return contact is not None and contact["email"] == address

    async def handled(event: Any) -> bool:
        return await svc.store.db.inbox.count_documents({"_id": f"identity:{event.id}"}) == 1

    late = change(f"{user}-old@example.org", datetime.now(UTC) - timedelta(minutes=5))
    await publish_as_producer(svc.settings, late)
    await eventually(lambda: handled(late), timeout=30)
    assert await email_is(f"{user}-new@example.org")

    ahead = timedelta(seconds=svc.settings.max_clock_skew_s - 30)
    skewed = change(f"{user}-skewed@example.org", datetime.now(UTC) + ahead)
    await publish_as_producer(svc.settings, skewed)
    await eventually(lambda: email_is(f"{user}-skewed@example.org"), timeout=30)
    genuine = change(f"{user}-genuine@example.org", datetime.now(UTC) + timedelta(seconds=1))
    await publish_as_producer(svc.settings, genuine)
    await eventually(lambda: email_is(f"{user}-genuine@example.org"), timeout=30)
