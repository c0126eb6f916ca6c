"""Conditional and idempotent requests on events, venues, registrations and series, on
the real store: ETags from the stored revision, If-Match in the update (one of many racing
editors wins), Idempotency-Key on sign-ups and series."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx

from .conftest import helsinki_now

RACERS = 12
REV = re.compile(r'^"r([0-9]+)(-[0-9A-Za-z_.]+)?"$')


def revision(etag: str) -> int:
    found = REV.match(etag)
    assert found, etag
    return int(found.group(1))


async def test_event_etag_carries_the_revision_and_if_match_guards_the_patch(api: Any) -> None:
    event = await api.event(capacity=5)
    eid = event["id"]
    staff = api.auth()
    public = await api.client.get(f"/events/{eid}")
    etag = public.headers["etag"]
    assert revision(etag) == event["revision"]
    # #18's revalidation still answers 304 for the same bytes
    same = await api.client.get(f"/events/{eid}", headers={"If-None-Match": etag})
    assert same.status_code == 304

    managed = (await api.client.get(f"/events/{eid}", headers=staff)).headers["etag"]
    changed = await api.client.patch(
        f"/events/{eid}", json={"capacity": 8}, headers={**staff, "If-Match": managed}
    )
    assert changed.status_code == 200, changed.text
    assert revision(changed.headers["etag"]) == changed.json()["revision"] == event["revision"] + 1
    stale = await api.client.patch(
        f"/events/{eid}", json={"capacity": 9}, headers={**staff, "If-Match": managed}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["errors"][0]["field"] == "If-Match"
    assert revision(stale.headers["etag"]) == event["revision"] + 1
    after = await api.client.get(f"/events/{eid}", headers=staff)
    assert after.json()["capacity"] == 8
    # the public answer moved too (no 304 for the old tag)
    moved = await api.client.get(f"/events/{eid}", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag


async def test_editors_racing_on_one_event_exactly_one_wins(api: Any) -> None:
    event = await api.event(publish=False)
    eid = event["id"]
    staff = api.auth()
    etag = (await api.client.get(f"/events/{eid}", headers=staff)).headers["etag"]

    async def edit(n: int) -> httpx.Response:
        title = {"fi": f"Muokkaus {n}", "en": f"Edit {n}"}
        return await api.client.patch(
            f"/events/{eid}", json={"title": title}, headers={**staff, "If-Match": etag}
        )

    answers = await asyncio.gather(*(edit(n) for n in range(RACERS)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [412] * (RACERS - 1), [a.text for a in answers]
    [won] = [a for a in answers if a.status_code == 200]
    stored = (await api.client.get(f"/events/{eid}", headers=staff)).json()
    assert stored["title"] == won.json()["title"]
    assert stored["revision"] == event["revision"] + 1


async def test_venue_if_match(api: Any) -> None:
    venue = await api.venue()
    staff = api.auth()
    read = await api.client.get(f"/venues/{venue['id']}")
    assert read.headers["etag"] == '"r0"' and "revision" not in read.json()
    # the version held: 304 without a body (kit.not_modified), for any reader
    held = await api.client.get(f"/venues/{venue['id']}", headers={"If-None-Match": 'W/"r0"'})
    assert held.status_code == 304 and held.content == b"" and held.headers["etag"] == '"r0"'
    changed = await api.client.patch(
        f"/venues/{venue['id']}", json={"active": False}, headers={**staff, "If-Match": '"r0"'}
    )
    assert changed.status_code == 200 and changed.headers["etag"] == '"r1"'
    stale = await api.client.patch(
        f"/venues/{venue['id']}", json={"active": True}, headers={**staff, "If-Match": '"r0"'}
    )
    assert stale.status_code == 412
    plain = await api.client.patch(f"/venues/{venue['id']}", json={"active": True}, headers=staff)
    assert plain.status_code == 200 and plain.headers["etag"] == '"r2"'
    assert (await api.client.get(f"/venues/{venue['id']}")).json()["active"] is True
    newer = await api.client.get(f"/venues/{venue['id']}", headers={"If-None-Match": '"r0"'})
    assert newer.status_code == 200 and newer.headers["etag"] == '"r2"'


async def test_the_same_sign_up_key_in_parallel_registers_once(api: Any) -> None:
    event = await api.event(capacity=20)
    eid = event["id"]
    sub = f"idem-{uuid.uuid4().hex[:6]}"
    headers = {**api.auth("resident", sub=sub), "Idempotency-Key": uuid.uuid4().hex}

    async def sign_up() -> httpx.Response:
        return await api.client.post(
            f"/events/{eid}/registrations", json={"seats": 2}, headers=headers
        )

    answers = await asyncio.gather(*(sign_up() for _ in range(8)))
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.status_code in (201, 409) for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in created}) == 1
    for busy in (a for a in answers if a.status_code == 409):
        assert busy.json()["title"] == "Request in progress"
    again = await sign_up()
    assert again.status_code == 201 and again.content == created[0].content
    assert again.headers["idempotent-replayed"] == "true"
    seats = (await api.client.get(f"/events/{eid}")).json()["seats_free"]
    assert seats == 18  # one registration of two seats

    other = await api.client.post(
        f"/events/{eid}/registrations", json={"seats": 3}, headers=headers
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    reg = await api.client.get(f"/registrations/{created[0].json()['id']}", headers=headers)
    assert revision(reg.headers["etag"]) == 0


async def test_series_creation_with_a_key_makes_one_series(api: Any) -> None:
    starts = (helsinki_now() + timedelta(days=14)).replace(microsecond=0, tzinfo=None)
    body = {
        "template": {
            "kind": "course",
            "title": {"fi": "Kurssi"},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=90)).isoformat(),
        },
        "recurrence": {"frequency": "weekly", "count": 2},
    }
    partner = {**api.auth("partner", sub="idem-series"), "Idempotency-Key": uuid.uuid4().hex}
    first = await api.client.post("/series", json=body, headers=partner)
    assert first.status_code == 201, first.text
    again = await api.client.post("/series", json=body, headers=partner)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    read = await api.client.get(f"/series/{first.json()['id']}", headers=partner)
    assert revision(read.headers["etag"]) == 0 and "revision" not in read.json()
    # publishing an occurrence changes what the series shows: another ETag
    occurrence = first.json()["occurrences"][0]["id"]
    published = await api.client.post(f"/events/{occurrence}/publish", headers=api.auth())
    assert published.status_code == 200, published.text
    reread = await api.client.get(f"/series/{first.json()['id']}", headers=partner)
    assert reread.headers["etag"] != read.headers["etag"]
