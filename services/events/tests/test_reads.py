"""Public reads: an event is found on every day it runs however long it is (lists and the
iCalendar feed), and lists, single events and feeds answer with a strong ETag, 304 to
If-None-Match and a short Cache-Control."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from icalendar import Calendar

from contracts.calendar import UID_DOMAIN
from events import event, store
from events.api.caching import dumps
from events.parts import Parts

from .conftest import helsinki_now


def unique_word() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


async def test_an_event_of_20_days_is_found_on_each_of_its_days(api: Any) -> None:
    word = unique_word()
    first = (helsinki_now() + timedelta(days=3)).replace(hour=10, minute=0, second=0)
    created = await api.event(
        title={"fi": f"Näyttely {word}"},
        starts_at=first.isoformat(),
        ends_at=(first + timedelta(days=19, hours=8)).isoformat(),  # 10:00 day 1 - 18:00 day 20
    )
    day0 = first.replace(hour=0)
    for n in range(-1, 21):
        day = day0 + timedelta(days=n)
        window = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat(), "q": word}
        r = await api.client.get("/events", params=window)
        assert r.status_code == 200, r.text
        found = [e["id"] for e in r.json()["items"]]
        assert found == ([created["id"]] if 0 <= n < 20 else []), f"day {n}"
        r = await api.client.get("/feeds/events.ics", params=window)
        uids = [str(c["uid"]) for c in Calendar.from_ical(r.content).walk("VEVENT")]
        assert uids == ([f"{created['id']}@{UID_DOMAIN}"] if 0 <= n < 20 else []), f"feed day {n}"
    # And while it runs: from any moment inside it, with no end given.
    r = await api.client.get("/events", params={"from": (day0 + timedelta(days=15)).isoformat(),
                                                "q": word})  # fmt: skip
    assert [e["id"] for e in r.json()["items"]] == [created["id"]]


async def test_etag_304_and_a_new_etag_after_a_change(api: Any) -> None:
    word = unique_word()
    created = await api.event(title={"fi": f"Kerho {word}"})
    paths = [
        ("/events", {"q": word}),
        (f"/events/{created['id']}", {}),
        ("/feeds/events.ics", {"q": word}),
        (f"/events/{created['id']}/event.ics", {}),
        (f"/events/{created['id']}/jsonld", {}),
    ]
    tags = {}
    for path, params in paths:
        r = await api.client.get(path, params=params)
        assert r.status_code == 200, (path, r.text)
        tag = r.headers["etag"]
        assert tag.startswith('"') and not tag.startswith("W/"), path  # strong
        assert r.headers["cache-control"].startswith("public, max-age="), path
        again = await api.client.get(path, params=params, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == tag
        listed = await api.client.get(
            path, params=params, headers={"If-None-Match": f'"other", W/{tag}'}
        )
        assert listed.status_code == 304, path
        other = await api.client.get(path, params=params, headers={"If-None-Match": '"x"'})
        assert other.status_code == 200 and other.content == r.content, path
        tags[path] = tag
    # Signed in: revalidated each time, never kept by a shared cache.
    r = await api.client.get("/events", params={"q": word}, headers=api.auth("resident"))
    assert r.headers["cache-control"] == "private, no-cache"

    r = await api.client.patch(
        f"/events/{created['id']}",
        json={"title": {"fi": f"Kerho {word} muutettu"}},
        headers=api.auth("staff"),
    )
    assert r.status_code == 200, r.text
    for path, params in paths:
        r = await api.client.get(path, params=params, headers={"If-None-Match": tags[path]})
        assert r.status_code == 200, path
        assert r.headers["etag"] != tags[path], path


async def test_status_change_on_either_kind_of_store(svc: Any, api: Any, monkeypatch: Any) -> None:
    """MongoDB changes a status in one find_one_and_update; the embedded store by an update
    and a read by _id (its find_one_and_update scans the collection): the same document."""
    from events import store

    for kind in ("mongodb", "embedded"):
        monkeypatch.setattr(svc.store, "kind", kind)
        created = await api.event(publish=False)
        current = await svc.store.db[store.EVENTS].find_one({"_id": created["id"]})
        guard = {"_id": created["id"], "status": "draft"}
        done = await store.update_and_read(svc, None, guard, {"$set": {"status": "published"}})
        assert done is not None and done["status"] == "published", kind
        assert done["revision"] == current["revision"] + 1, kind
        assert done == await svc.store.db[store.EVENTS].find_one({"_id": created["id"]})
        assert await store.update_and_read(svc, None, guard, {"$set": {"status": "x"}}) is None


async def test_a_status_change_holds_the_event_exactly_as_stored(api: Any, svc: Any) -> None:
    """A publish and a cancel on the embedded store apply their update to the event as read
    instead of reading it again (store.update_and_read): what they answer and what the
    catalogue holds must be the stored document's view, byte for byte; and an event that
    changed since it was read is read again."""
    created = await api.event(title={"fi": f"Kerho {unique_word()}"}, publish=False)
    staff = api.auth("staff")
    events = svc.store.db[store.EVENTS]
    for action in ("publish", "cancel"):
        r = await api.client.post(f"/events/{created['id']}/{action}", headers=staff)
        assert r.status_code == 200, r.text
        stored = await events.find_one({"_id": created["id"]})
        assert r.json() == event.out(stored, detail=True)
        held = svc.part(Parts).catalogue.get(created["id"])
        assert held.view == dumps(event.out(stored))  # field order and times as stored
    # Read, then changed by someone else: the update is not applied to the stale copy.
    stale = await events.find_one({"_id": created["id"]})
    await events.update_one({"_id": created["id"]}, {"$inc": {"revision": 1, "visits": 3}})
    written = await store.update_and_read(
        svc, None, {"_id": created["id"]}, {"$set": {"note": "x"}}, current=stale
    )
    assert written == await events.find_one({"_id": created["id"]})
    assert written is not None and written["visits"] == 3
    assert written["revision"] == stale["revision"] + 2
