"""Sign-ups, the waiting list and cancellations over HTTP, with the events they publish."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from contracts import events as ev

from .conftest import helsinki_now


async def test_confirm_then_waitlist_then_promote(api: Any, published: Any) -> None:
    event = await api.event(capacity=2)
    eid = event["id"]
    first = (await api.register(eid, "reg-a")).json()
    second = (await api.register(eid, "reg-b")).json()
    third = await api.register(eid, "reg-c")
    assert first["status"] == "confirmed" and second["status"] == "confirmed"
    assert third.status_code == 201 and third.json()["status"] == "waitlisted"
    assert third.json()["place"] == 1
    [confirmed] = await published.wait(ev.REGISTRATION_CONFIRMED, registration_id=first["id"])
    assert confirmed["data"]["user_id"] == "reg-a" and confirmed["data"]["seats"] == 1
    assert confirmed["data"]["title"] == event["title"]
    [waiting] = await published.wait(ev.REGISTRATION_WAITLISTED, event_id=eid)
    assert waiting["data"]["position"] == 1 and waiting["data"]["user_id"] == "reg-c"

    # A duplicate sign-up is refused; the public view shows no free seats.
    dup = await api.register(eid, "reg-a")
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "event_id"
    assert (await api.client.get(f"/events/{eid}")).json()["seats_free"] == 0

    # The user cancels: the head of the waiting list is promoted and told.
    user_a = api.auth("resident", sub="reg-a")
    r = await api.client.post(f"/registrations/{first['id']}/cancel", headers=user_a)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    [promoted] = await published.wait(ev.REGISTRATION_PROMOTED, event_id=eid)
    assert promoted["data"]["user_id"] == "reg-c"
    r = await api.client.get(f"/registrations/{third.json()['id']}", headers=api.auth(sub="reg-c"))
    assert r.json()["status"] == "confirmed"
    [cancel] = await published.wait(ev.REGISTRATION_CANCELLED, event_id=eid)
    assert cancel["data"]["cancelled_by"] == "user" and cancel["data"]["was_waitlisted"] is False
    again = await api.client.post(f"/registrations/{first['id']}/cancel", headers=user_a)
    assert again.status_code == 409

    # Someone else may not cancel or read it; staff of the municipality may cancel.
    stranger = api.auth("resident", sub="reg-x")
    r = await api.client.post(f"/registrations/{second['id']}/cancel", headers=stranger)
    assert r.status_code == 403
    assert (
        await api.client.get(f"/registrations/{second['id']}", headers=stranger)
    ).status_code == 403
    kouvola = api.auth("staff", "kouvola")
    r = await api.client.post(f"/registrations/{second['id']}/cancel", headers=kouvola)
    assert r.status_code == 403
    r = await api.client.post(f"/registrations/{second['id']}/cancel", headers=api.auth())
    assert r.status_code == 200
    staff_cancel = await published.wait(ev.REGISTRATION_CANCELLED, 2, event_id=eid)
    assert staff_cancel[-1]["data"]["cancelled_by"] == "staff"

    mine = await api.client.get("/registrations/mine", headers=api.auth("resident", sub="reg-c"))
    assert [r["event_id"] for r in mine.json()["items"]] == [eid]
    assert mine.json()["limit"] == 200 and mine.json()["next"] is None  # a page (docs/api.md)


async def test_group_signups_and_fifo(api: Any) -> None:
    event = await api.event(capacity=5, max_group_size=4)
    eid = event["id"]
    group = await api.register(eid, "grp-1", seats=4, group_name="Suomi-koulu")
    assert group.json()["status"] == "confirmed" and group.json()["seats"] == 4
    too_big = await api.register(eid, "grp-2", seats=5)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "seats"
    head = await api.register(eid, "grp-3", seats=3)  # does not fit the 1 free seat
    assert head.json()["status"] == "waitlisted"
    single = await api.register(eid, "grp-4")  # fits, but may not pass the waiting group
    assert single.json()["status"] == "waitlisted" and single.json()["place"] == 2
    staff = api.auth()
    # Raising capacity promotes the head group first, then the single.
    r = await api.client.patch(f"/events/{eid}", json={"capacity": 8}, headers=staff)
    assert r.status_code == 200 and r.json()["seats_taken"] == 8
    listing = await api.client.get(f"/events/{eid}/registrations", headers=staff)
    statuses = {x["user_id"]: x["status"] for x in listing.json()["items"]}
    assert statuses == {"grp-1": "confirmed", "grp-3": "confirmed", "grp-4": "confirmed"}
    r = await api.client.patch(f"/events/{eid}", json={"capacity": 7}, headers=staff)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "capacity"


async def test_registration_rules(api: Any) -> None:
    now = helsinki_now()
    closed = await api.event(
        capacity=5, registration_closes_at=(now + timedelta(hours=1)).isoformat(), days=0.02
    )
    # closes in an hour: still open
    assert (await api.register(closed["id"], "rule-1")).status_code == 201
    not_yet = await api.event(
        capacity=5, registration_opens_at=(now + timedelta(days=1)).isoformat()
    )
    r = await api.register(not_yet["id"], "rule-1")
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "registration_opens_at"
    past = await api.event(capacity=5, days=-0.01)  # already started
    r = await api.register(past["id"], "rule-1")
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "registration_closes_at"
    aged = await api.event(capacity=5, min_age=13, max_age=17)
    r = await api.register(aged["id"], "rule-1")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "age"
    r = await api.register(aged["id"], "rule-1", age=30)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "age"
    assert (await api.register(aged["id"], "rule-1", age=15)).status_code == 201
    # A birth date identity verified decides for a person signing up alone; the body's age
    # cannot override it, and a self-declared date is no better than the body's age.
    year = helsinki_now().year
    teen = {"birthdate": f"{year - 15}-01-01", "birthdate_source": "verified"}
    adult = {"birthdate": "1990-01-01", "birthdate_source": "verified"}
    for claims, body, status in (
        (teen, {}, 201),
        (adult, {"age": 15}, 422),
        ({**teen, "birthdate_source": "self_declared"}, {}, 422),
        (teen, {"seats": 2, "group_name": "Kerho", "age": 30}, 422),
    ):
        r = await api.client.post(
            f"/events/{aged['id']}/registrations",
            json=body,
            headers=api.auth("resident", sub=f"aged-{uuid.uuid4().hex[:6]}", **claims),
        )
        assert r.status_code == status, (claims, body, r.text)
    open_event = await api.event(registration_required=False, kind="avaa_tila")
    r = await api.register(open_event["id"], "rule-1")
    assert r.status_code == 409
    draft = await api.event(publish=False)
    assert (await api.register(draft["id"], "rule-1")).status_code == 404
    # other municipality's residents and anonymous callers
    normal = await api.event(capacity=5)
    assert (await api.register(normal["id"], "rule-2", municipality="kouvola")).status_code == 403
    r = await api.client.post(f"/events/{normal['id']}/registrations", json={})
    assert r.status_code == 401
    r = await api.register(normal["id"], "rule-2", seats=0)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "seats"
    assert (await api.register("evt-nothing", "rule-2")).status_code == 404
    # the check-in list is for staff only
    r = await api.client.get(f"/events/{normal['id']}/registrations", headers=api.auth("resident"))
    assert r.status_code == 403
