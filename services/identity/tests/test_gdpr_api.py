"""GDPR: the export holds everything identity keeps about the user (and no password hash);
erasure removes it, publishes user.erased, and shows per service when the other services
have answered with their erasure.completed events (sent here over the real broker)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx

from identity.user import contact_of
from kit.testing import envelope, eventually

PASSWORD = "correct horse battery"


async def answer_erasure(amqp_url: str, user_id: str, services: list[str]) -> None:
    """Publish `<svc>.erasure.completed` as the other services would."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for service in services:
            event = envelope(
                f"kohtaamo.{service}.erasure.completed.v1",
                {"user_id": user_id, "records_erased": 2},
            )
            exchange = await channel.get_exchange(f"kohtaamo.{service}.events")
            await exchange.publish(
                aio_pika.Message(event.model_dump_json().encode(), message_id=event.id),
                routing_key=event.routing_key,
            )
    finally:
        await connection.close()


async def test_export_then_erase_reaches_every_service(
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    published: Any,
    amqp_url: str,
    ctx: Any,
) -> None:
    out = await signup(marketing=True)
    uid, headers = out["user"]["id"], out["headers"]
    await client.put("/me/profile", json={"skills": [{"skill": "knitting"}]}, headers=headers)
    await client.put(
        "/me/mentor-offer",
        json={"topics": [{"skill": "knitting"}], "languages": ["fi"]},
        headers=headers,
    )
    await client.put("/me/participant-profile", json={"gender": "woman"}, headers=headers)
    org = (
        await client.post(
            "/organisations", json={"name": "Neulojat ry", "kind": "association"}, headers=headers
        )
    ).json()

    export = await client.get("/me/export", headers=headers)
    assert export.status_code == 200
    data = export.json()
    assert data["account"]["email"] == out["email"] and "password_hash" not in data["account"]
    assert data["profile"]["skills"] == [{"skill": "knitting", "level": None}]
    assert data["mentor_offer"]["active"] is True
    assert {c["purpose"] for c in data["consents"]} == {"terms", "marketing"}
    assert data["participant_profile"]["answers"]["gender"] == "woman"
    assert data["organisations"] == [{"id": org["id"], "name": "Neulojat ry", "role": "contact"}]
    assert len(data["sessions"]) == 1 and "family" not in data["sessions"][0]
    assert "_id" not in data["sessions"][0]  # the refresh token hash stays inside

    # Contact details still waiting in the outbox (as while the broker is away).
    account = await ctx.db.users.find_one({"_id": uid})
    pending = ctx.svc.event(
        "kohtaamo.identity.contact.changed.v1", contact_of(account), municipality="helsinki"
    )
    await ctx.svc.outbox.stage(None, pending)
    await ctx.db.outbox.update_one(
        {"_id": pending.id}, {"$set": {"due": datetime.now(UTC) + timedelta(hours=1)}}
    )
    assert await ctx.db.outbox.find_one({"_id": pending.id}) is not None

    wrong = await client.post("/me/erase", json={"password": "not my password"}, headers=headers)
    assert wrong.status_code == 403 and wrong.json()["errors"][0]["field"] == "password"
    erased = await client.post("/me/erase", json={"password": PASSWORD}, headers=headers)
    assert erased.status_code == 200
    receipt = erased.json()["receipt"]
    status = erased.json()["status"]
    assert status["services"]["identity"] is not None and status["complete"] is False
    assert status["services"]["bookings"] is None

    [event] = await published.wait("kohtaamo.identity.user.erased.v1", user_id=uid)
    assert event["subject"] == f"user/{uid}"
    [own] = await published.wait("kohtaamo.identity.erasure.completed.v1", user_id=uid)
    assert own["data"]["records_erased"] >= 6

    # Nothing personal is left; the tombstone keeps only the id and the municipality.
    tomb = await ctx.db.users.find_one({"_id": uid})
    assert tomb["status"] == "erased" and "display_name" not in tomb and "password_hash" not in tomb
    for name in ("profiles", "mentor_offers", "participant_profiles"):
        assert await ctx.db[name].find_one({"_id": uid}) is None
    assert await ctx.db.consents.count_documents({"user_id": uid}) == 0
    assert await ctx.db.refresh_tokens.count_documents({"user_id": uid}) == 0
    assert await ctx.db.organisations.count_documents({"members.user_id": uid}) == 0
    # No copy of the email is left in the outbox.
    assert await ctx.db.outbox.find_one({"_id": pending.id}) is None
    assert await ctx.db.outbox.count_documents({"body": {"$regex": re.escape(out["email"])}}) == 0
    login = {"municipality": "helsinki", "email": out["email"], "password": PASSWORD}
    assert (await client.post("/auth/login", json=login)).status_code == 401
    # The account is gone (404), and soon the token too (401: kit.revocation).
    assert (await client.get("/me", headers=headers)).status_code in (401, 404)

    await answer_erasure(amqp_url, uid, ["events", "bookings", "notifications", "analytics"])

    async def complete() -> bool:
        got = (await client.get(f"/erasures/{receipt}")).json()
        return bool(got["complete"])

    await eventually(complete, timeout=20)
    final = (await client.get(f"/erasures/{receipt}")).json()
    assert all(final["services"].values())
    assert (await client.get("/erasures/not-a-receipt")).status_code == 404

    # The email is free again for a new account.
    again = await client.post(
        "/auth/signup",
        json={**login, "display_name": "Uusi", "accept_terms": True},
    )
    assert again.status_code == 201


async def test_admin_erases_in_own_municipality_only(
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    staff_user: Callable[..., Any],
) -> None:
    resident = await signup()
    uid = resident["user"]["id"]
    helsinki_admin = await staff_user(["admin"])
    kouvola_admin = await staff_user(["admin"], "kouvola")
    staff = await staff_user(["staff"])
    url = f"/municipalities/helsinki/users/{uid}"

    assert (await client.post(f"{url}/erase", headers=kouvola_admin["headers"])).status_code == 403
    assert (await client.post(f"{url}/erase", headers=staff["headers"])).status_code == 403
    assert (
        await client.get(f"{url}/erasure", headers=helsinki_admin["headers"])
    ).status_code == 404
    done = await client.post(f"{url}/erase", headers=helsinki_admin["headers"])
    assert done.status_code == 200 and done.json()["status"]["user_id"] == uid
    status = await client.get(f"{url}/erasure", headers=helsinki_admin["headers"])
    assert status.status_code == 200 and status.json()["services"]["identity"]
    assert (await client.get(f"{url}/erasure", headers=kouvola_admin["headers"])).status_code == 403
    assert (await client.post(f"{url}/erase", headers=helsinki_admin["headers"])).status_code == 404
