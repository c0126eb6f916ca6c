"""Locations, opening hours and resources over HTTP: events, exceptions, validation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bookings.testing import Actors, EventLog, at, future_day


async def test_hours_change_is_published_and_closes_days(
    client: httpx.AsyncClient,
    actors: Actors,
    events: EventLog,
    make_resource: Any,
    make_location: Any,
) -> None:
    location = await make_location()
    room = await make_resource(location=location)
    desk = await make_resource(location=location, kind="workstation")
    [created] = await events.find("location.hours_changed", f"location/{location['id']}")
    assert created["data"]["weekly"]["0"] == [{"opens": "08:00:00", "closes": "20:00:00"}]
    [changed] = await events.find("resource.changed", f"resource/{room['id']}")
    assert changed["data"]["created"] is True and changed["data"]["kind"] == "meeting_room"

    holiday = future_day(3)
    short = holiday + timedelta(days=1)
    hours = {
        "weekly": location["hours"]["weekly"],
        "exceptions": [
            {"day": holiday.isoformat(), "closed": True, "reason": "holiday"},
            {"day": short.isoformat(), "hours": [{"opens": "10:00", "closes": "12:00"}]},
        ],
    }
    assert (
        await client.put(
            f"/locations/{location['id']}/hours", json={"hours": hours}, headers=actors.user()
        )
    ).status_code == 403
    assert (
        await client.put(
            f"/locations/{location['id']}/hours",
            json={"hours": hours},
            headers=actors.staff("kouvola"),
        )
    ).status_code == 403
    put = await client.put(
        f"/locations/{location['id']}/hours", json={"hours": hours}, headers=actors.staff()
    )
    assert put.status_code == 200
    updates = await events.find("location.hours_changed", f"location/{location['id']}", count=2)
    assert updates[-1]["data"]["exceptions"][0]["closed"] is True

    closed = await client.post(
        "/bookings",
        headers=actors.user(),
        json={
            "resource_id": room["id"],
            "starts_at": at(holiday, "10:00"),
            "ends_at": at(holiday, "11:00"),
        },
    )
    assert closed.status_code == 422 and closed.json()["errors"][0]["field"] == "starts_at"
    free = await client.get(
        f"/locations/{location['id']}/availability",
        headers=actors.user(),
        params={"from": holiday.isoformat(), "to": short.isoformat(), "kind": "workstation"},
    )
    assert free.status_code == 200
    [only] = free.json()["resources"]
    assert only["resource_id"] == desk["id"] and len(only["slots"]) == 4  # 10-12 in 30 min
    [period] = only["open"]  # the short day's 10-12, as a UTC interval
    opened = datetime.fromisoformat(period["starts_at"])
    assert datetime.fromisoformat(period["ends_at"]) - opened == timedelta(hours=2)
    assert opened.astimezone(ZoneInfo(location["timezone"])).hour == 10
    assert "next_open_day" not in only
    # A closed day says so, and names the next day it opens.
    shut = await client.get(
        f"/locations/{location['id']}/availability",
        headers=actors.user(),
        params={"from": holiday.isoformat(), "to": holiday.isoformat(), "kind": "workstation"},
    )
    [closed_day] = shut.json()["resources"]
    assert closed_day["slots"] == [] and closed_day["open"] == []
    assert closed_day["next_open_day"] > holiday.isoformat()
    too_long = await client.get(
        f"/locations/{location['id']}/availability",
        headers=actors.user(),
        params={"from": holiday.isoformat(), "to": (holiday + timedelta(days=90)).isoformat()},
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "to"
    other = await client.get(
        f"/locations/{location['id']}/availability",
        headers=actors.user(municipality="kouvola"),
        params={"from": holiday.isoformat(), "to": short.isoformat()},
    )
    assert other.status_code == 403


async def test_location_and_resource_validation(
    client: httpx.AsyncClient, actors: Actors, events: EventLog, make_resource: Any
) -> None:
    staff = actors.staff()
    bad_zone = await client.post(
        "/locations", headers=staff, json={"name": {"fi": "x"}, "timezone": "Mars/Olympus"}
    )
    assert bad_zone.status_code == 422 and bad_zone.json()["errors"][0]["field"] == "timezone"
    bad_hours = await client.post(
        "/locations",
        headers=staff,
        json={
            "name": {"fi": "x"},
            "hours": {"weekly": {"0": [{"opens": "18:00", "closes": "09:00"}]}},
        },
    )
    assert bad_hours.status_code == 422
    assert bad_hours.json()["errors"][0]["field"].startswith("hours.weekly")
    bad_lang = await client.post("/locations", headers=staff, json={"name": {"1x": "x"}})
    assert bad_lang.status_code == 422 and bad_lang.json()["errors"][0]["field"] == "name"
    long_name = await client.post("/locations", headers=staff, json={"name": {"fi": "x" * 201}})
    assert long_name.status_code == 422 and long_name.json()["errors"][0]["field"] == "name.fi"
    room = await make_resource()
    body = {"location_id": room["location_id"], "kind": "studio", "name": {"fi": "x"}}
    misspelt = await client.post("/resources", headers=staff, json={**body, "capcity": 4})
    [error] = misspelt.json()["errors"]
    assert misspelt.status_code == 422 and error["did_you_mean"] == "capacity"
    kit = await client.post("/resources", headers=staff, json={**body, "equipment": ["x"] * 51})
    assert kit.status_code == 422 and kit.json()["errors"][0]["field"] == "equipment"
    no_mentor = await client.post(
        "/resources",
        headers=staff,
        json={"location_id": room["location_id"], "kind": "mentor_hours", "name": {"fi": "x"}},
    )
    assert no_mentor.status_code == 422
    missing = await client.post(
        "/resources",
        headers=staff,
        json={"location_id": "loc-none", "kind": "studio", "name": {"fi": "x"}},
    )
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "location_id"
    patched = await client.patch(
        f"/resources/{room['id']}",
        headers=staff,
        json={"capacity": 2, "rules": {"approval_required": True}},
    )
    assert patched.status_code == 200 and patched.json()["rules"]["approval_required"] is True
    changes = await events.find("resource.changed", f"resource/{room['id']}", count=2)
    assert changes[-1]["data"]["created"] is False and changes[-1]["data"]["capacity"] == 2
    day = future_day(2)
    pending = await client.post(
        "/bookings",
        headers=actors.user(),
        json={
            "resource_id": room["id"],
            "starts_at": at(day, "10:00"),
            "ends_at": at(day, "11:00"),
        },
    )
    assert pending.json()["status"] == "pending"  # the new rule applies at once
    listed = await client.get(
        "/resources", headers=actors.user(), params={"location_id": room["location_id"]}
    )
    assert [r["id"] for r in listed.json()["items"]] == [room["id"]]
    deactivated = await client.patch(
        f"/resources/{room['id']}", headers=staff, json={"active": False}
    )
    assert deactivated.json()["active"] is False
    refused = await client.post(
        "/bookings",
        headers=actors.user(),
        json={
            "resource_id": room["id"],
            "starts_at": at(day, "12:00"),
            "ends_at": at(day, "13:00"),
        },
    )
    assert refused.status_code == 409


async def test_place_page_details_change_with_if_match(
    client: httpx.AsyncClient, actors: Actors, make_location: Any
) -> None:
    """PATCH /locations/{id}: address, description, accessibility and photo for the place's
    page; a stale If-Match is refused, another municipality's staff and residents too."""
    place = await make_location()
    staff = actors.staff()
    read = await client.get(f"/locations/{place['id']}", headers=staff)
    first = read.headers["etag"]
    body = {
        "address": "Viides linja 11, 00530 Helsinki",
        "description": {"fi": "Ryhmätiloja"},
        "accessibility": ["Hissi"],
        "image": {"src": "/media/kallio.jpg", "alt": {"fi": "Ryhmätila"}},
    }
    changed = await client.patch(
        f"/locations/{place['id']}", json=body, headers={**staff, "If-Match": first}
    )
    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in body} == body
    assert changed.json()["hours"] == place["hours"]  # untouched
    assert changed.headers["etag"] != first
    stale = await client.patch(
        f"/locations/{place['id']}", json={"address": None}, headers={**staff, "If-Match": first}
    )
    assert stale.status_code == 412
    cleared = await client.patch(
        f"/locations/{place['id']}", json={"image": None, "address": None}, headers=staff
    )
    assert cleared.json()["image"] is None and cleared.json()["address"] is None
    assert cleared.json()["description"] == {"fi": "Ryhmätiloja"}
    for who in (actors.staff("kouvola"), actors.user()):
        refused = await client.patch(f"/locations/{place['id']}", json=body, headers=who)
        assert refused.status_code == 403
    foreign = {"image": {"src": "https://elsewhere.example/x.jpg", "alt": {"fi": "x"}}}
    bad = await client.patch(f"/locations/{place['id']}", json=foreign, headers=staff)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("image")
    nameless = await client.patch(f"/locations/{place['id']}", json={"name": {"fi": "x"}},
                                  headers=staff)  # fmt: skip
    assert nameless.status_code == 422


async def test_locations_and_resources_are_pages_with_a_total_and_next_links(
    client: httpx.AsyncClient, actors: Actors, make_location: Any, make_resource: Any
) -> None:
    town = f"sivutus{uuid.uuid4().hex[:8]}"  # a municipality of its own: known counts
    places = [await make_location(town) for _ in range(3)]
    rooms = {(await make_resource(location=place))["id"] for place in places}
    staff = actors.staff(town)
    first = (await client.get("/locations", params={"limit": 2}, headers=staff)).json()
    assert (first["limit"], first["offset"], first["total"], len(first["items"])) == (2, 0, 3, 2)
    assert first["next"].endswith("/locations?limit=2&offset=2")
    rest = (await client.get(first["next"], headers=staff)).json()
    assert rest["next"] is None and rest["total"] == 3
    assert sorted(p["id"] for p in first["items"] + rest["items"]) == sorted(
        p["id"] for p in places
    )
    kinds = {"kind": "meeting_room", "limit": 1, "offset": 2}
    last = (await client.get("/resources", params=kinds, headers=staff)).json()
    assert last["total"] == 3 and len(last["items"]) == 1 and last["next"] is None
    other = (await client.get("/resources", headers=actors.staff("kouvola"))).json()
    assert {r["id"] for r in last["items"]} < rooms and not {
        r["id"] for r in other["items"]
    } & rooms
    too_many = await client.get("/locations", params={"limit": 501}, headers=staff)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"
