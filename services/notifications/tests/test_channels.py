"""SMS through the HTTP adapter, preferences and quiet hours, retries with backoff, the
delivery log, and operators' view and retry of failed notices."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY

from contracts import bookings as bc
from contracts import notifications as nc
from kit.testing import eventually

from .conftest import add_contact, client, publish, published, settle
from .test_booking_notices import booking


async def test_sms_by_preference_through_the_http_adapter(
    started: Any, sms_gateway: Any, mailbox: Any
) -> None:
    svc = await started()
    gateway, _ = sms_gateway
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(
        svc,
        user,
        language="en",
        phone="+358401234567",
        channels={"booking": ["sms"], "*": ["email"]},
    )
    await publish(svc, bc.BOOKING_CONFIRMED, booking(user))

    async def texted() -> bool:
        return len(gateway.received) == 1

    await eventually(texted)
    [sms] = gateway.received
    assert sms["to"] == "+358401234567"
    assert sms["text"] == "Booking confirmed: Media studio 4 Mar 2030 at 12:00"
    assert gateway.tokens == ["Bearer sms-secret"]
    await settle(0.5)
    assert box.to(address) == []  # bookings by SMS only


async def test_quiet_hours_hold_sms_until_morning(started: Any, sms_gateway: Any) -> None:
    svc = await started()
    gateway, _ = sms_gateway
    user = f"u-{uuid.uuid4().hex[:6]}"
    # Quiet hours that surely contain "now" in Helsinki: from an hour ago to two hours on.
    local = datetime.now(ZoneInfo("Europe/Helsinki"))
    start = (local - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    await add_contact(
        svc,
        user,
        phone="+358409999999",
        channels={"*": ["sms"]},
        quiet_hours={"start": start.isoformat(), "end": end.isoformat()},
    )
    await publish(svc, bc.BOOKING_CONFIRMED, booking(user))

    async def stored() -> bool:
        return await svc.store.db.notices.count_documents({"user_id": user}) == 1

    await eventually(stored)
    notice = await svc.store.db.notices.find_one({"user_id": user})
    assert notice is not None and notice["status"] == "queued"
    assert notice["due"] > datetime.now(UTC) + timedelta(minutes=100)
    await settle(0.5)
    assert gateway.received == []


async def test_failing_sms_channel_retries_then_fails_and_operator_retries(
    started: Any, sms_gateway: Any, issuer: Any
) -> None:
    svc = await started()
    gateway, _ = sms_gateway
    gateway.status = 503
    before = notices_counted("sms")
    user = f"u-{uuid.uuid4().hex[:6]}"
    await add_contact(svc, user, phone="+358401111111", channels={"*": ["sms"]})
    cause = await publish(svc, bc.BOOKING_CONFIRMED, booking(user))
    [failed] = await published(svc, nc.NOTICE_FAILED)
    assert failed["data"]["user_id"] == user and "503" in failed["data"]["reason"]
    assert failed["data"]["attempts"] == 3 and failed["data"]["cause_event_id"] == cause

    async def counted_failed() -> bool:  # two retries, then failed for good
        return notices_counted("sms", before) == {"sent": 0, "failed": 1, "retried": 2}

    await eventually(counted_failed)

    staff = issuer.headers(roles=["staff"])
    async with client(svc) as http:
        listed = await http.get("/notifications/deliveries", headers=staff)
        assert listed.json()["next"] is None and listed.json()["limit"] == 100  # a page
        [entry] = [d for d in listed.json()["items"] if d["user_id"] == user]
        # Two retries with backoff (notice_retry_delays_s has two steps), then failed.
        assert [e["status"] for e in entry["log"]] == ["queued", "retrying", "retrying", "failed"]
        assert entry["attempts"] == 3

        resident = await http.get("/notifications/deliveries", headers=issuer.headers())
        assert resident.status_code == 403
        other = await http.post(
            f"/notifications/deliveries/{entry['id']}/retry",
            headers=issuer.headers(roles=["staff"], municipality="kouvola"),
        )
        assert other.status_code == 404  # another municipality's notice is not visible

        gateway.status = 200
        retried = await http.post(f"/notifications/deliveries/{entry['id']}/retry", headers=staff)
        assert retried.status_code == 202

        async def texted() -> bool:
            return len(gateway.received) == 1

        await eventually(texted)
        again = await http.post(f"/notifications/deliveries/{entry['id']}/retry", headers=staff)
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["errors"][0]["field"] == "notice_id"
    [sent] = await published(svc, nc.NOTICE_SENT)
    assert sent["data"]["notice_id"] == entry["id"]

    async def counted_sent() -> bool:
        return notices_counted("sms", before) == {"sent": 1, "failed": 1, "retried": 2}

    await eventually(counted_sent)


def notices_counted(channel: str, since: dict[str, float] | None = None) -> dict[str, float]:
    """kohtaamo_notices_{sent,failed,retried}_total of `channel` (less `since`)."""
    counts = {
        outcome: REGISTRY.get_sample_value(
            f"kohtaamo_notices_{outcome}_total", {"channel": channel}
        )
        or 0.0
        for outcome in ("sent", "failed", "retried")
    }
    return {k: v - (since or {}).get(k, 0.0) for k, v in counts.items()}


async def test_refused_recipient_fails_without_retry(started: Any, mailbox: Any) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user)
    box.refuse.add(address)
    await publish(svc, bc.BOOKING_CONFIRMED, booking(user))

    async def failed() -> bool:
        n = await svc.store.db.notices.find_one({"user_id": user, "channel": "email"})
        return n is not None and n["status"] == "failed"

    await eventually(failed)
    notice = await svc.store.db.notices.find_one({"user_id": user, "channel": "email"})
    assert notice is not None and notice["attempts"] == 1
    assert "recipient refused" in notice["last_error"]


async def test_preferences_api_own_only_and_validated(
    started: Any, mailbox: Any, issuer: Any
) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language="fi")
    me = issuer.headers(sub=user)
    async with client(svc) as http:
        got = await http.get("/notifications/preferences", headers=me)
        assert got.json()["channels"] == {"*": ["email", "inapp"]}
        bad = await http.put(
            "/notifications/preferences", json={"channels": {"*": ["pigeon"]}}, headers=me
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "channels"
        misspelt = await http.put(
            "/notifications/preferences", json={"chanels": {"*": ["sms"]}}, headers=me
        )
        assert misspelt.status_code == 422
        assert misspelt.json()["errors"][0]["did_you_mean"] == "channels"
        too_many = await http.put(
            "/notifications/preferences", json={"channels": {"*": ["sms"] * 4}}, headers=me
        )
        assert too_many.status_code == 422
        assert too_many.json()["errors"][0]["field"] == "channels.*"
        bad_time = await http.put(
            "/notifications/preferences",
            json={"quiet_hours": {"start": "25:00", "end": "07:00"}},
            headers=me,
        )
        assert bad_time.status_code == 422
        assert bad_time.json()["errors"][0]["field"].startswith("quiet_hours.start")
        put = await http.put(
            "/notifications/preferences",
            json={
                "channels": {"booking": ["inapp"]},
                "quiet_hours": {"start": "22:00", "end": "07:00"},
            },
            headers=me,
        )
        assert put.status_code == 200
        assert put.json()["quiet_hours"] == {"start": "22:00:00", "end": "07:00:00"}
        assert (await http.get("/notifications/preferences")).status_code == 401

        # If-Match (optional): the overrides' stored revision; of changes racing with the
        # same ETag one applies, the others are 412 and change nothing
        read = await http.get("/notifications/preferences", headers=me)
        etag = read.headers["etag"]
        assert etag.startswith('"r1-') and etag == put.headers["etag"]
        held = await http.get("/notifications/preferences", headers={**me, "If-None-Match": etag})
        assert held.status_code == 304 and held.content == b"" and held.headers["etag"] == etag

        async def change(n: int) -> Any:
            return await http.put(
                "/notifications/preferences",
                json={"quiet_hours": {"start": f"2{n % 4}:00", "end": "07:00"}},
                headers={**me, "If-Match": etag},
            )

        answers = await asyncio.gather(*(change(n) for n in range(8)))
        assert sorted(a.status_code for a in answers) == [200] + [412] * 7
        [won] = [a for a in answers if a.status_code == 200]
        assert won.headers["etag"].startswith('"r2-')
        now = await http.get("/notifications/preferences", headers={**me, "If-None-Match": etag})
        assert now.status_code == 200 and now.json() == won.json()
        assert now.headers["etag"] == won.headers["etag"]

    # The user's own choice wins over identity's: bookings now only in the inbox.
    await publish(svc, bc.BOOKING_CONFIRMED, booking(user))

    async def stored() -> bool:
        return await svc.store.db.notices.count_documents({"user_id": user}) == 1

    await eventually(stored)
    await settle(0.5)
    assert box.to(address) == []
    notice = await svc.store.db.notices.find_one({"user_id": user})
    assert notice is not None and notice["channel"] == "inapp"


async def test_inbox_read_unread_and_isolation(started: Any, issuer: Any) -> None:
    svc = await started()
    user, stranger = f"u-{uuid.uuid4().hex[:6]}", f"u-{uuid.uuid4().hex[:6]}"
    await add_contact(svc, user, language="sv", channels={"*": ["inapp"]})
    await publish(svc, bc.BOOKING_CONFIRMED, booking(user))
    await publish(svc, bc.BOOKING_CANCELLED, booking(user))

    async def two() -> bool:
        return await svc.store.db.notices.count_documents({"user_id": user}) == 2

    await eventually(two)
    me = issuer.headers(sub=user)
    async with client(svc) as http:
        page = (await http.get("/notifications/inbox", headers=me)).json()
        assert page["unread"] == 2
        texts = sorted(i["text"] for i in page["items"])
        assert texts[0].startswith("Bokningen avbokad: Mediastudio")
        assert texts[1].startswith("Bokningen bekräftad: Mediastudio")
        english = (await http.get("/notifications/inbox?lang=en", headers=me)).json()
        assert {i["subject"] for i in english["items"]} == {
            "Booking cancelled: Media studio",
            "Booking confirmed: Media studio",
        }
        first = page["items"][0]["id"]
        # Someone else, or the same user id in another municipality, cannot touch it.
        theirs = await http.post(
            f"/notifications/inbox/{first}/read", headers=issuer.headers(sub=stranger)
        )
        assert theirs.status_code == 404
        elsewhere = await http.post(
            f"/notifications/inbox/{first}/read",
            headers=issuer.headers(sub=user, municipality="kouvola"),
        )
        assert elsewhere.status_code == 404
        assert (
            await http.get("/notifications/inbox", headers=issuer.headers(sub=stranger))
        ).json()["items"] == []
        ok = await http.post(f"/notifications/inbox/{first}/read", headers=me)
        assert ok.status_code == 200
        # `unread=true` is what my page sends; `unread_only` is its old name, still honoured.
        unread = (await http.get("/notifications/inbox?unread=true", headers=me)).json()
        assert unread["unread"] == 1 and len(unread["items"]) == 1
        assert [i["read"] for i in unread["items"]] == [False]
        old = (await http.get("/notifications/inbox?unread_only=true", headers=me)).json()
        assert [i["id"] for i in old["items"]] == [i["id"] for i in unread["items"]]
        every = (await http.get("/notifications/inbox?unread=false", headers=me)).json()
        assert len(every["items"]) == 2 and every["total"] == 2 and unread["total"] == 1
        # A page: the newest first, then the link to the rest.
        newest = (await http.get("/notifications/inbox?limit=1", headers=me)).json()
        assert newest["items"] == every["items"][:1] and newest["unread"] == 1
        rest = (await http.get(newest["next"], headers=me)).json()
        assert rest["items"] == every["items"][1:] and rest["next"] is None
        both = await http.get("/notifications/inbox?unread=true&unread_only=false", headers=me)
        assert both.status_code == 422 and both.json()["errors"][0]["field"] == "unread_only"
        assert (await http.post("/notifications/inbox/read-all", headers=me)).json()["marked"] == 1
        bad = await http.get("/notifications/inbox?limit=0", headers=me)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"
