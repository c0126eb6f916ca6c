"""Bulk import (POST /events/import): many events in one request, checked as creates
are, published with their messages, found at once in the catalogue; an import sent again
creates nothing twice; a bad event is refused naming it and nothing of the batch is kept;
only staff of the municipality import."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from events import event, store
from events.api.caching import dumps
from events.parts import Parts

from .conftest import Published, helsinki_now


def bodies(word: str, count: int, venue_id: str, **more: Any) -> list[dict[str, Any]]:
    first = (helsinki_now() + timedelta(days=30)).replace(microsecond=0)
    return [
        {
            "kind": "workshop",
            "title": {"fi": f"Tuonti {word} {n}", "en": f"Import {word} {n}"},
            "starts_at": (first + timedelta(hours=n)).isoformat(),
            "ends_at": (first + timedelta(hours=n, minutes=90)).isoformat(),
            "venue_id": venue_id,
            "topics": [{"skill": f"Aihe {n % 3}"}],
            "source_id": f"linkedevents:helsinki:{word}{n}",
            **more,
        }
        for n in range(count)
    ]


async def test_an_import_publishes_every_event_once(
    api: Any, svc: Any, published: Published
) -> None:
    word = f"w{uuid.uuid4().hex[:10]}"
    venue = await api.venue()
    events = bodies(word, 30, venue["id"])
    r = await api.client.post("/events/import", json={"events": events}, headers=api.auth())
    assert r.status_code == 201, r.text
    created = r.json()["created"]
    assert len(created) == 30 and r.json()["existing"] == []
    ids = [c["id"] for c in created]
    # Found at once through the catalogue, in order, as a create + publish would show them.
    r = await api.client.get("/events", params={"q": word, "limit": 100})
    items = r.json()["items"]
    assert [e["id"] for e in items] == ids
    assert {e["status"] for e in items} == {"published"}
    assert items[0]["venue_kind"] == "library" and items[0]["topics"] == [{"skill": "aihe 0"}]
    assert items[0]["source_id"] == f"linkedevents:helsinki:{word}0"
    # Held as written, which is what the store has (read back, it shows the same).
    reads = svc.part(Parts).catalogue
    for stored in await svc.store.db[store.EVENTS].find({"_id": {"$in": ids}}).to_list(None):
        assert reads.get(stored["_id"]).view == dumps(event.out(stored))
    one = (await api.client.get(f"/events/{ids[5]}")).json()
    assert one["title"]["en"] == f"Import {word} 5"
    await published.wait("kohtaamo.events.event.published.v1", count=1, event_id=ids[-1])
    # Sent again (a lost answer): nothing new, the same ids reported as existing.
    r = await api.client.post("/events/import", json={"events": events}, headers=api.auth())
    assert r.status_code == 201, r.text
    assert r.json() == {"created": [], "existing": ids}
    assert await svc.store.db[store.EVENTS].count_documents({"_id": {"$in": ids}}) == 30


async def test_a_bad_event_refuses_the_batch_naming_it(api: Any, svc: Any) -> None:
    word = f"w{uuid.uuid4().hex[:10]}"
    venue = await api.venue()
    cases = [
        ({3: {"venue_id": "ven-missing"}}, "events.3.venue_id", 422),
        ({4: {"ends_at": (helsinki_now() - timedelta(days=400)).isoformat()}}, "events.4.ends_at",
         422),
        ({2: {"starts_at": (helsinki_now() - timedelta(days=2)).isoformat(),
              "ends_at": (helsinki_now() - timedelta(days=1)).isoformat()}}, "events.2.ends_at",
         409),
        ({1: {"parent_event_id": "evt-missing"}}, "events.1.parent_event_id", 422),
        ({5: {"source_id": f"linkedevents:helsinki:{word}0"}}, "events.5.source_id", 422),
        ({0: {"capacity": 0}}, "events.0.capacity", 422),
    ]  # fmt: skip
    for changes, field, status in cases:
        events = bodies(word, 6, venue["id"])
        for at, more in changes.items():
            events[at].update(more)
        r = await api.client.post("/events/import", json={"events": events}, headers=api.auth())
        assert r.status_code == status, (field, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
    # Nothing of any refused batch was kept.
    assert await svc.store.db[store.EVENTS].count_documents({"search_text": {"$regex": word}}) == 0


async def test_only_staff_of_the_municipality_import_and_batches_are_bounded(
    api: Any, svc: Any
) -> None:
    venue = await api.venue()
    events = bodies(f"w{uuid.uuid4().hex[:10]}", 2, venue["id"])
    for headers in (api.auth("partner"), api.auth("resident"), {}):
        r = await api.client.post("/events/import", json={"events": events}, headers=headers)
        assert r.status_code in (401, 403), r.text
    # Staff of Kouvola import into Kouvola: a Helsinki place is not theirs.
    r = await api.client.post(
        "/events/import", json={"events": events}, headers=api.auth(municipality="kouvola")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "events.0.venue_id"
    many = bodies("x", svc.settings.import_max + 1, venue["id"])
    r = await api.client.post("/events/import", json={"events": many}, headers=api.auth())
    assert r.status_code in (413, 422), r.text
    r = await api.client.post("/events/import", json={"events": []}, headers=api.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "events"
