"""Conditional and idempotent requests on the real store: ETags from the stored revision,
If-Match checked in the update (one of many racing editors wins), Idempotency-Key on
bookings and series (one booking however often and however concurrently it is retried,
also on another replica after a restart)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx

from bookings.testing import Actors, at, future_day

PATCH_RACERS = 12
KEY_RACERS = 10


async def test_resource_etag_and_if_match(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any
) -> None:
    room = await make_resource()
    staff = actors.staff()
    read = await client.get(f"/resources/{room['id']}", headers=staff)
    first = read.headers["etag"]
    assert first == '"r0"'
    assert "Authorization" in read.headers["vary"]
    # the same version again: 304, no body (kit.not_modified)
    held = await client.get(f"/resources/{room['id']}", headers={**staff, "If-None-Match": first})
    assert held.status_code == 304 and held.content == b"" and held.headers["etag"] == first

    renamed = await client.patch(
        f"/resources/{room['id']}",
        json={"capacity": 7},
        headers={**staff, "If-Match": first},
    )
    assert renamed.status_code == 200, renamed.text
    second = renamed.headers["etag"]
    assert second == '"r1"'
    assert (await client.get(f"/resources/{room['id']}", headers=staff)).headers["etag"] == second
    moved = await client.get(f"/resources/{room['id']}", headers={**staff, "If-None-Match": first})
    assert moved.status_code == 200 and moved.json()["capacity"] == 7

    for stale in (first, f"W/{second}", '"something-else"'):
        refused = await client.patch(
            f"/resources/{room['id']}", json={"capacity": 3}, headers={**staff, "If-Match": stale}
        )
        assert refused.status_code == 412, (stale, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "If-Match"
        if stale == first:  # a version of ours: the 412 names the current one
            assert refused.headers["etag"] == second
    # a refused change changed nothing
    again = await client.get(f"/resources/{room['id']}", headers=staff)
    assert again.json()["capacity"] == 7

    # If-Match is optional on this API (docs/bookings.md): without it the change applies
    free = await client.patch(f"/resources/{room['id']}", json={"capacity": 5}, headers=staff)
    assert free.status_code == 200 and free.headers["etag"] == '"r2"'
    # any of several, or "*"
    listed = await client.patch(
        f"/resources/{room['id']}",
        json={"capacity": 4},
        headers={**staff, "If-Match": f'"r0", {free.headers["etag"]}'},
    )
    assert listed.status_code == 200, listed.text


async def test_racing_editors_with_the_same_etag_exactly_one_wins(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any
) -> None:
    room = await make_resource()
    staff = actors.staff()
    etag = (await client.get(f"/resources/{room['id']}", headers=staff)).headers["etag"]

    async def edit(capacity: int) -> httpx.Response:
        return await client.patch(
            f"/resources/{room['id']}",
            json={"capacity": capacity},
            headers={**staff, "If-Match": etag},
        )

    answers = await asyncio.gather(*(edit(10 + i) for i in range(PATCH_RACERS)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [412] * (PATCH_RACERS - 1), [a.text for a in answers]
    [won] = [a for a in answers if a.status_code == 200]
    now = await client.get(f"/resources/{room['id']}", headers=staff)
    assert now.json()["capacity"] == won.json()["capacity"]
    assert now.headers["etag"] == won.headers["etag"] == '"r1"'


async def test_location_hours_honour_if_match(
    client: httpx.AsyncClient, actors: Actors, make_location: Any
) -> None:
    place = await make_location()
    staff = actors.staff()
    etag = (await client.get(f"/locations/{place['id']}", headers=staff)).headers["etag"]
    hours = {"hours": place["hours"]}
    changed = await client.put(
        f"/locations/{place['id']}/hours", json=hours, headers={**staff, "If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != etag
    stale = await client.put(
        f"/locations/{place['id']}/hours", json=hours, headers={**staff, "If-Match": etag}
    )
    assert stale.status_code == 412


async def test_booking_etag_moves_with_its_status(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    day = future_day()
    anna = actors.user()
    made = await book(anna, room, at(day, "09:00"), at(day, "10:00"))
    assert made.status_code == 201, made.text
    before = (await client.get(f"/bookings/{made.json()['id']}", headers=anna)).headers["etag"]
    await client.post(f"/bookings/{made.json()['id']}/cancel", headers=anna)
    after = (await client.get(f"/bookings/{made.json()['id']}", headers=anna)).headers["etag"]
    assert before != after


async def test_the_same_key_in_parallel_makes_one_booking(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    day = future_day(4)
    anna = actors.user()
    key = {**anna, "Idempotency-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(
        *(book(key, room, at(day, "10:00"), at(day, "11:00")) for _ in range(KEY_RACERS))
    )
    created = [a for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    assert len(created) + len(busy) == KEY_RACERS, [a.text for a in answers]
    # duplicates wait for nothing: they get the first answer or "in progress"
    assert {a.json()["id"] for a in created} == {created[0].json()["id"]}
    for refused in busy:
        assert refused.json()["title"] == "Request in progress"
        assert refused.headers["retry-after"] == "1"
    mine = (await client.get("/bookings/mine", headers=anna)).json()["items"]
    assert [b["id"] for b in mine] == [created[0].json()["id"]]

    # once done, a retry gets the first answer byte for byte, marked as a replay
    retry = await book(key, room, at(day, "10:00"), at(day, "11:00"))
    assert retry.status_code == 201 and retry.content == created[0].content
    assert retry.headers["idempotent-replayed"] == "true"
    # the same key with another body names another request
    other = await book(key, room, at(day, "12:00"), at(day, "13:00"))
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    # keys are per person: someone else's same key is their own request
    ben = await book(
        {**actors.user(), "Idempotency-Key": key["Idempotency-Key"]},
        room,
        at(day, "12:00"),
        at(day, "13:00"),
    )
    assert ben.status_code == 201 and ben.json()["id"] != created[0].json()["id"]


async def test_a_retry_after_a_restart_gets_the_first_answer(
    client: httpx.AsyncClient,
    replica: httpx.AsyncClient,
    actors: Actors,
    make_resource: Any,
    book: Any,
) -> None:
    room = await make_resource()
    day = future_day(5)
    key = {**actors.user(), "Idempotency-Key": uuid.uuid4().hex}
    first = await book(key, room, at(day, "14:00"), at(day, "15:00"))
    assert first.status_code == 201, first.text
    # another process on the same store (a restarted or another replica) replays it
    again = await book(key, room, at(day, "14:00"), at(day, "15:00"), via=replica)
    assert again.status_code == 201 and again.content == first.content

    # a refusal is not kept: the key may be retried once the cause is gone
    refused_key = {**key, "Idempotency-Key": uuid.uuid4().hex}
    clash = await book(refused_key, room, at(day, "14:30"), at(day, "15:30"))
    assert clash.status_code == 409 and "idempotent-replayed" not in clash.headers
    cancelled = await client.post(f"/bookings/{first.json()['id']}/cancel", headers=key)
    assert cancelled.status_code == 200, cancelled.text
    later = await book(refused_key, room, at(day, "14:30"), at(day, "15:30"))
    assert later.status_code == 201, later.text


async def test_series_creation_is_idempotent(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any
) -> None:
    room = await make_resource()
    first = future_day(2, weekday=2)
    headers = {**actors.user(), "Idempotency-Key": "series-" + uuid.uuid4().hex}
    body = {
        "resource_id": room["id"],
        "starts_at": at(first, "10:00"),
        "ends_at": at(first, "11:00"),
        "count": 3,
    }
    made = await client.post("/series", json=body, headers=headers)
    assert made.status_code == 201, made.text
    # key order and spacing do not make another request
    reordered = dict(reversed(list(body.items())))
    again = await client.post("/series", json=reordered, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == made.json()["id"]
    series = await client.get(f"/series/{made.json()['id']}", headers=headers)
    assert series.headers["etag"] == '"r0"'
    later = at(first + timedelta(weeks=4), "10:00")
    other = await client.post("/series", json={**body, "starts_at": later}, headers=headers)
    assert other.status_code == 422


async def test_malformed_keys_are_refused(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    day = future_day(6)
    for bad in ("x" * 129, "with space", ""):
        answer = await book(
            {**actors.user(), "Idempotency-Key": bad}, room, at(day, "10:00"), at(day, "11:00")
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
