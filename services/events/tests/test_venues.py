"""Venues over HTTP against the real store and broker."""

from __future__ import annotations

from typing import Any

import httpx

from contracts import events as ev


async def test_staff_create_venue_and_it_is_published(api: Any, published: Any) -> None:
    created = await api.venue(
        kind="park",
        name={"fi": "Sibeliuspuisto", "sv": "Sibeliusparken", "en": "Sibelius Park"},
        latitude=60.182,
        longitude=24.913,
        accessibility={"fi": "Sorapolut"},
    )
    assert created["municipality"] == "helsinki" and created["kind"] == "park"
    [changed] = await published.wait(ev.VENUE_CHANGED, venue_id=created["id"])
    assert changed["data"]["created"] is True and changed["municipality"] == "helsinki"
    assert changed["data"]["latitude"] == 60.182

    r = await api.client.patch(
        f"/venues/{created['id']}", json={"active": False}, headers=api.auth("admin")
    )
    assert r.status_code == 200 and r.json()["active"] is False
    events = await published.wait(ev.VENUE_CHANGED, 2, venue_id=created["id"])
    assert events[-1]["data"]["created"] is False and events[-1]["data"]["active"] is False


async def test_roles_and_municipality_are_checked(api: Any) -> None:
    client: httpx.AsyncClient = api.client
    body = {"kind": "cafe", "name": {"fi": "Kahvila"}}
    assert (await client.post("/venues", json=body)).status_code == 401
    r = await client.post("/venues", json=body, headers=api.auth("resident"))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    r = await client.post("/venues", json=body, headers=api.auth("partner"))
    assert r.status_code == 403
    helsinki = await api.venue()
    r = await client.patch(
        f"/venues/{helsinki['id']}", json={"kind": "park"}, headers=api.auth("staff", "kouvola")
    )
    assert r.status_code == 403
    assert (await client.get(f"/venues/{helsinki['id']}")).json()["kind"] == "library"


async def test_bad_input_names_the_field(api: Any) -> None:
    staff = api.auth()
    r = await api.client.post(
        "/venues", json={"kind": "park", "name": {"fi": "P"}, "latitude": 60.1}, headers=staff
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "longitude"
    r = await api.client.post("/venues", json={"kind": "moon", "name": {"fi": "K"}}, headers=staff)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = await api.client.post(
        "/venues", json={"kind": "park", "name": {"fi": "P"}, "latitude": 91, "longitude": 0},
        headers=staff,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "latitude"
    r = await api.client.get("/venues", params={"near": "north"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "near"
    assert (await api.client.get("/venues/ven-nope")).status_code == 404


async def test_search_by_kind_and_distance(api: Any) -> None:
    # Kouvola: its own municipality so other tests' venues do not interfere.
    near = await api.venue("kouvola", kind="shopping_centre", name={"fi": "Veturi"},
                           latitude=60.878, longitude=26.677)  # fmt: skip
    far = await api.venue("kouvola", kind="shopping_centre", name={"fi": "Kaukana"},
                          latitude=61.10, longitude=26.90)  # fmt: skip
    await api.venue("kouvola", kind="cafe", name={"fi": "Kahvila"}, latitude=60.87, longitude=26.7)
    r = await api.client.get(
        "/venues",
        params={"municipality": "kouvola", "kind": "shopping_centre", "near": "60.868,26.704"},
    )
    items = r.json()["items"]
    assert [v["id"] for v in items][:2] == [near["id"], far["id"]]
    assert items[0]["distance_km"] < 3 < items[1]["distance_km"]
    r = await api.client.get(
        "/venues",
        params={"municipality": "kouvola", "near": "60.868,26.704", "within_km": 5},
    )
    ids = [v["id"] for v in r.json()["items"]]
    assert near["id"] in ids and far["id"] not in ids
    assert all(v["municipality"] == "kouvola" for v in r.json()["items"])
    # A page: the nearest first, its total, and the next page's link (docs/api.md).
    paged = {"municipality": "kouvola", "kind": "shopping_centre", "near": "60.868,26.704"}
    first = (await api.client.get("/venues", params={**paged, "limit": 1})).json()
    assert [v["id"] for v in first["items"]] == [near["id"]] and first["total"] >= 2
    following = (await api.client.get(first["next"])).json()
    assert following["offset"] == 1 and following["items"][0]["id"] == far["id"]
    # Query strings are bounded like bodies: a 422 naming the parameter.
    for params, field in (
        ({"near": "1" * 61}, "near"),
        ({"municipality": "X" * 50}, "municipality"),
    ):
        refused = await api.client.get("/venues", params=params)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field
    refused = await api.client.get("/events", params={"venue_id": "v" * 101})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "venue_id"
