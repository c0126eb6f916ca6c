"""Identity's events through the real broker: erasure anonymises registrations (once,
even when the message is delivered twice) and role changes take effect at once."""

from __future__ import annotations

import time
from typing import Any

import aio_pika

from contracts import CloudEvent, topology
from contracts import events as ev
from contracts import identity as idc
from events import store
from kit.testing import dead_letters, drain, envelope, eventually, forgeries, publish_raw


async def _publish(amqp_url: str, event: Any) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange("identity"))
        await exchange.publish(
            aio_pika.Message(event.model_dump_json().encode(), message_id=event.id),
            routing_key=event.routing_key,
        )
    finally:
        await connection.close()


async def test_erasure_anonymises_registrations(
    api: Any, svc: Any, published: Any, amqp_url: str
) -> None:
    event = await api.event(capacity=1)
    first = (await api.register(event["id"], "erase-me", name="Maija", group_name="Perhe")).json()
    second = (await api.register(event["id"], "erase-me-not")).json()
    other = await api.event(capacity=3)
    third = (await api.register(other["id"], "erase-me")).json()
    erased = envelope(
        idc.USER_ERASED, {"user_id": "erase-me", "requested_at": "2026-11-25T00:00:00Z"}
    )
    await _publish(amqp_url, erased)
    [done] = await published.wait(ev.ERASURE_COMPLETED, user_id="erase-me")
    assert done["data"]["records_erased"] == 2 and done["causationid"] == erased.id

    regs = svc.store.db[store.REGISTRATIONS]
    assert await regs.count_documents({"user_id": "erase-me"}) == 0
    for reg_id in (first["id"], third["id"]):
        doc = await regs.find_one({"_id": reg_id})
        assert doc["user_id"].startswith("erased-") and doc["name"] is None
        assert doc["group_name"] is None and doc["code"] is None and doc["anonymised"] is True
        # sign-ups for events still to come are cancelled: the seat goes to the list
        assert doc["status"] == "cancelled"
    untouched = await regs.find_one({"_id": second["id"]})
    assert untouched["user_id"] == "erase-me-not" and untouched["status"] == "confirmed"
    [promoted] = await published.wait(ev.REGISTRATION_PROMOTED, event_id=event["id"])
    assert promoted["data"]["user_id"] == "erase-me-not"
    cancels = await published.wait(ev.REGISTRATION_CANCELLED, 2, reason="erased")
    assert {c["data"]["event_id"] for c in cancels} == {event["id"], other["id"]}
    # what is published after the erasure never carries the erased id
    assert all(c["data"]["user_id"].startswith("erased-") for c in cancels)

    # The same message again (a redelivery) is not applied a second time.
    await _publish(amqp_url, erased)

    async def handled_twice() -> bool:
        counts = await svc.admin.queue_counts("kohtaamo.events.identity-erasure")
        return counts is not None and counts[0] == 0

    await eventually(handled_twice)
    nobody = {"user_id": "nobody-here", "requested_at": "2026-11-25T00:00:00Z"}
    await _publish(amqp_url, envelope(idc.USER_ERASED, nobody))
    await published.wait(ev.ERASURE_COMPLETED, user_id="nobody-here")
    assert len(published.of(ev.ERASURE_COMPLETED, user_id="erase-me")) == 1


async def test_role_taken_away_is_respected_before_token_expiry(
    api: Any, published: Any, amqp_url: str
) -> None:
    old_token = api.issuer.headers(
        sub="ex-partner", roles=["partner"], municipality="helsinki", iat=int(time.time()) - 60
    )
    body = {"kind": "meetup", "title": {"fi": "Tapaaminen"},
            "starts_at": "2027-06-01T10:00:00", "ends_at": "2027-06-01T11:00:00"}  # fmt: skip
    assert (await api.client.post("/events", json=body, headers=old_token)).status_code == 201
    await _publish(
        amqp_url, envelope(idc.USER_ROLES_CHANGED, {"user_id": "ex-partner", "roles": ["resident"]})
    )

    async def refused() -> bool:
        r = await api.client.post("/events", json=body, headers=old_token)
        return r.status_code == 403

    await eventually(refused)
    # residents' rights are untouched: the same token still registers for events
    event = await api.event(capacity=2)
    r = await api.client.post(f"/events/{event['id']}/registrations", json={}, headers=old_token)
    assert r.status_code == 201
    # a token issued after the change carries the new roles and is taken as it is
    fresh = api.issuer.headers(sub="ex-partner", roles=["partner"], iat=int(time.time()) + 2)
    assert (await api.client.post("/events", json=body, headers=fresh)).status_code == 201


async def test_forged_identity_events_change_nothing(
    api: Any, svc: Any, published: Any, amqp_url: str
) -> None:
    """What an adversary with broker access sent (issue 19): an unsigned erasure, one
    signed by an unknown key, and a `roles_changed` dated in 2099 (which would have made
    events ignore every later genuine grant). Each is dead-lettered with its reason, the
    registration is as before, and a genuine role change afterwards still applies."""
    from datetime import UTC, datetime

    from kit.signatures import Signer, new_key

    event = await api.event(capacity=3)
    registration = (await api.register(event["id"], "forged-victim", name="Aino")).json()
    erase = {"user_id": "forged-victim", "requested_at": "2026-11-25T00:00:00Z"}
    unsigned = envelope(idc.USER_ERASED, erase, sign=False)
    unknown = CloudEvent.model_validate(
        Signer(new_key("test", "forger")).sealed(envelope(idc.USER_ERASED, erase, sign=False))
    )
    future = envelope(
        idc.USER_ROLES_CHANGED,
        {"user_id": "forged-victim", "roles": []},
        time=datetime(2099, 1, 1, tzinfo=UTC),
    )
    for forged in (unsigned, unknown, future):
        await _publish(amqp_url, forged)

    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    erasures = await channel.declare_queue(
        topology.dead_letter_queue("kohtaamo.events.identity-erasure"), passive=True
    )
    roles = await channel.declare_queue(
        topology.dead_letter_queue("kohtaamo.events.identity-roles"), passive=True
    )
    letters = await drain(erasures, 2) + await drain(roles, 1)
    assert {letter["id"]: letter["headers"]["x-kohtaamo-reason"] for letter in letters} == {
        unsigned.id: "unauthenticated",
        unknown.id: "unauthenticated",
        future.id: "future_time",
    }
    doc = await svc.store.db[store.REGISTRATIONS].find_one({"_id": registration["id"]})
    assert doc["user_id"] == "forged-victim" and doc["name"] == "Aino"
    assert doc["status"] == "confirmed"
    assert not published.of(ev.ERASURE_COMPLETED, user_id="forged-victim")
    await connection.close()


async def test_a_role_change_dated_ahead_counts_from_its_arrival(svc: Any, amqp_url: str) -> None:
    """Latest wins by `time`, but a sender's clock ahead (within KOHTAAMO_MAX_CLOCK_SKEW_S,
    so admitted) does not outrank later genuine changes: it counts as made on arrival. An
    older change arriving late is still ignored."""
    from datetime import UTC, datetime, timedelta

    roles = svc.store.db[store.ROLES]
    inbox = svc.store.db["inbox"]
    user = f"skewed-{time.time_ns()}"
    ahead = datetime.now(UTC) + timedelta(seconds=svc.settings.max_clock_skew_s - 30)
    skewed = envelope(idc.USER_ROLES_CHANGED, {"user_id": user, "roles": []}, time=ahead)
    await _publish(amqp_url, skewed)

    async def roles_are(wanted: list[str]) -> bool:
        doc = await roles.find_one({"_id": user})
        return doc is not None and doc["roles"] == wanted

    await eventually(lambda: roles_are([]), timeout=30)
    stored = (await roles.find_one({"_id": user}))["changed_at"].replace(tzinfo=UTC)
    assert stored < ahead - timedelta(seconds=60)  # its arrival, not its sender's clock

    older = envelope(
        idc.USER_ROLES_CHANGED,
        {"user_id": user, "roles": ["admin"]},
        time=datetime.now(UTC) - timedelta(minutes=10),
    )
    await _publish(amqp_url, older)

    async def handled(event: Any) -> bool:
        return await inbox.count_documents({"_id": f"identity-roles:{event.id}"}) == 1

    await eventually(lambda: handled(older), timeout=30)
    assert await roles_are([])  # made before the change that is there: ignored

    genuine = envelope(idc.USER_ROLES_CHANGED, {"user_id": user, "roles": ["partner"]})
    await _publish(amqp_url, genuine)
    # Before: ignored until the skewed change's time had passed (up to the whole skew).
    await eventually(lambda: roles_are(["partner"]), timeout=30)


async def test_forged_role_changes_are_dead_lettered_and_change_nothing(
    svc: Any, amqp_url: str
) -> None:
    """Forged `identity.user.roles_changed` taking a user's roles (issue 19): unsigned, an
    unknown key, a partner site for another municipality, a valid signature over altered
    roles, a type the signer may not publish, a future time. Each is dead-lettered with
    its reason; the user's roles are as before; a genuine change after them applies."""
    roles = svc.store.db[store.ROLES]
    user = f"forged-roles-{time.time_ns()}"
    await _publish(
        amqp_url, envelope(idc.USER_ROLES_CHANGED, {"user_id": user, "roles": ["partner"]})
    )

    async def known(who: str) -> bool:
        return await roles.find_one({"_id": who}) is not None

    await eventually(lambda: known(user), timeout=30)
    before = await roles.find_one({"_id": user})
    forged = forgeries(idc.USER_ROLES_CHANGED, {"user_id": user, "roles": []}, {"roles": ["admin"]})
    genuine = envelope(idc.USER_ROLES_CHANGED, {"user_id": f"{user}-2", "roles": ["staff"]})
    await publish_raw(
        amqp_url,
        topology.exchange("identity"),
        genuine.routing_key,
        *(doc for _, _, doc in forged.values()),
        genuine.model_dump(mode="json"),
    )
    await eventually(lambda: known(f"{user}-2"), timeout=30)
    letters = await dead_letters(
        amqp_url, "kohtaamo.events.identity-roles", {doc["id"] for _, _, doc in forged.values()}
    )
    got = {name: letters[doc["id"]][0] for name, (_, _, doc) in forged.items()}
    assert got == {name: reason for name, (reason, _, _) in forged.items()}
    for name, (_, error, doc) in forged.items():
        assert error in letters[doc["id"]][1], name
    assert await roles.find_one({"_id": user}) == before
