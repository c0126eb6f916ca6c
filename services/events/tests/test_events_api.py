"""Events workflow, visibility, validation and search over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contracts import events as ev

from .conftest import helsinki_now


def _times(days: float, hours: float = 2) -> dict[str, str]:
    starts = (helsinki_now() + timedelta(days=days)).replace(microsecond=0)
    return {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=hours)).isoformat(),
    }


async def test_partner_drafts_staff_publishes(api: Any, published: Any) -> None:
    client = api.client
    partner = api.auth("partner", sub="partner-1")
    venue = await api.venue(kind="library")
    body = {
        "kind": "meetup",
        "title": {"fi": "Yhdistysilta", "sv": "Föreningskväll", "en": "Associations evening"},
        "audiences": ["associations", "ngos"],
        "topics": [{"skill": "fundraising", "level": "intermediate"}],
        "languages": ["fi", "sv"],
        "venue_id": venue["id"],
        "capacity": 25,
        **_times(10),
    }
    r = await client.post("/events", json=body, headers=partner)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["status"] == "draft" and draft["organiser"]["kind"] == "partner"
    assert draft["venue_kind"] == "library" and draft["timezone"] == "Europe/Helsinki"
    assert draft["starts_at"].endswith(("+02:00", "+03:00"))

    # Drafts are hidden from the public and from other users, visible to staff and author.
    assert (await client.get(f"/events/{draft['id']}")).status_code == 404
    other = api.auth("resident")
    assert (await client.get(f"/events/{draft['id']}", headers=other)).status_code == 404
    assert (await client.get(f"/events/{draft['id']}", headers=partner)).status_code == 200
    assert (await client.get(f"/events/{draft['id']}", headers=api.auth())).status_code == 200

    # The partner edits the draft but may not publish it; other municipalities' staff neither.
    r = await client.patch(f"/events/{draft['id']}", json={"capacity": 30}, headers=partner)
    assert r.status_code == 200 and r.json()["capacity"] == 30
    assert (await client.post(f"/events/{draft['id']}/publish", headers=partner)).status_code == 403
    kouvola = api.auth("staff", "kouvola")
    assert (await client.post(f"/events/{draft['id']}/publish", headers=kouvola)).status_code == 403
    r = await client.patch(f"/events/{draft['id']}", json={"capacity": 3}, headers=kouvola)
    assert r.status_code == 403
    another_partner = api.auth("partner", sub="partner-2")
    r = await client.patch(f"/events/{draft['id']}", json={"capacity": 3}, headers=another_partner)
    assert r.status_code == 403

    r = await client.post(f"/events/{draft['id']}/publish", headers=api.auth())
    assert r.status_code == 200 and r.json()["status"] == "published"
    [event] = await published.wait(ev.EVENT_PUBLISHED, event_id=draft["id"])
    assert event["data"]["capacity"] == 30 and event["data"]["organiser_kind"] == "partner"
    assert event["data"]["venue_kind"] == "library" and event["municipality"] == "helsinki"
    assert (await client.get(f"/events/{draft['id']}")).status_code == 200

    # Published: only staff edit now; a second publish is a conflict.
    r = await client.patch(f"/events/{draft['id']}", json={"capacity": 40}, headers=partner)
    assert r.status_code == 403
    r = await client.post(f"/events/{draft['id']}/publish", headers=api.auth())
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "status"
    r = await client.patch(f"/events/{draft['id']}", json={"capacity": 40}, headers=api.auth())
    assert r.status_code == 200
    [changed] = await published.wait(ev.EVENT_CHANGED, event_id=draft["id"])
    assert changed["data"]["changed_fields"] == ["capacity"] and changed["data"]["capacity"] == 40


async def test_residents_cannot_create_events(api: Any) -> None:
    body = {"kind": "workshop", "title": {"fi": "X"}, **_times(3)}
    r = await api.client.post("/events", json=body, headers=api.auth("resident"))
    assert r.status_code == 403
    assert (await api.client.post("/events", json=body)).status_code == 401


async def test_validation_names_fields(api: Any) -> None:
    staff = api.auth()
    post = api.client.post
    base = {"kind": "workshop", "title": {"fi": "X"}}
    starts = helsinki_now() + timedelta(days=3)
    cases = [
        ({**base, "starts_at": starts.isoformat(), "ends_at": starts.isoformat()}, "ends_at"),
        ({**base, **_times(3), "kind": "party"}, "kind"),
        ({**base, **_times(3), "capacity": 0}, "capacity"),
        ({**base, **_times(3), "min_age": 30, "max_age": 20}, "max_age"),
        ({**base, **_times(3), "price": {"free": False}}, "price.amount"),
        ({**base, **_times(3), "venue_id": "ven-missing"}, "venue_id"),
        ({**base, **_times(3), "title": {"not a code": "x"}}, "title"),
        ({**base, **_times(3), "languages": ["english!"]}, "languages"),
        ({**base, **_times(3), "audiences": ["aliens"]}, "audiences.0"),
        ({**base, "starts_at": "tomorrow", "ends_at": starts.isoformat()}, "starts_at"),
        (
            {
                **base,
                **_times(3),
                "registration_closes_at": (starts + timedelta(days=9)).isoformat(),
            },
            "registration_closes_at",
        ),
    ]
    for body, field in cases:
        r = await post("/events", json=body, headers=staff)
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())
    # a venue of another municipality is not usable
    kouvola_venue = await api.venue("kouvola")
    r = await post("/events", json={**base, **_times(3), "venue_id": kouvola_venue["id"]},
                   headers=staff)  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "venue_id"


async def test_cancel_and_complete(api: Any, published: Any) -> None:
    client = api.client
    event = await api.event(capacity=5)
    r = await api.register(event["id"], "cancel-u1")
    assert r.status_code == 201
    assert (
        await client.post(f"/events/{event['id']}/cancel", headers=api.auth("partner"))
    ).status_code == 403
    r = await client.post(
        f"/events/{event['id']}/cancel", json={"reason": "storm"}, headers=api.auth()
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    [cancelled] = await published.wait(ev.EVENT_CANCELLED, event_id=event["id"])
    assert cancelled["data"]["reason"] == "storm"
    [reg] = await published.wait(ev.REGISTRATION_CANCELLED, event_id=event["id"])
    assert (
        reg["data"]["cancelled_by"] == "event_cancelled" and reg["data"]["user_id"] == "cancel-u1"
    )
    r = await client.patch(f"/events/{event['id']}", json={"capacity": 9}, headers=api.auth())
    assert r.status_code == 409
    assert (await api.register(event["id"], "cancel-u2")).status_code == 409

    # Completion: only after the start, by staff, with counts.
    future = await api.event(capacity=5)
    r = await client.post(f"/events/{future['id']}/complete", headers=api.auth())
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "starts_at"
    running = await api.event(days=-0.01, capacity=5)  # started a quarter hour ago
    r = await client.post(f"/events/{running['id']}/complete", headers=api.auth("staff", "kouvola"))
    assert r.status_code == 403
    r = await client.post(f"/events/{running['id']}/complete", headers=api.auth())
    assert r.status_code == 200 and r.json()["status"] == "completed"
    [done] = await published.wait(ev.EVENT_COMPLETED, event_id=running["id"])
    assert done["data"]["registered"] == 0 and done["data"]["attended"] == 0


async def test_partner_withdraws_own_draft(api: Any, published: Any) -> None:
    partner = api.auth("mentor", sub="mentor-7")
    r = await api.client.post(
        "/events", json={"kind": "peer_session", "title": {"fi": "Vertais"}, **_times(4)},
        headers=partner,
    )  # fmt: skip
    draft = r.json()
    assert draft["organiser"]["kind"] == "mentor"
    r = await api.client.post(f"/events/{draft['id']}/cancel", headers=partner)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    # a draft never published tells nobody that it was cancelled
    assert not published.of(ev.EVENT_CANCELLED, event_id=draft["id"])


async def test_umbrella_event_with_sub_events(api: Any) -> None:
    umbrella = await api.event(title={"fi": "Tietoviikko"}, days=20)
    sub = await api.event(title={"fi": "Päivä 1"}, days=20, parent_event_id=umbrella["id"])
    r = await api.client.get(f"/events/{umbrella['id']}")
    assert [s["id"] for s in r.json()["sub_events"]] == [sub["id"]]
    r = await api.client.post(
        "/events",
        json={"kind": "workshop", "title": {"fi": "X"}, "parent_event_id": sub["id"], **_times(20)},
        headers=api.auth(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "parent_event_id"


async def test_listing_filters_and_pages(api: Any) -> None:
    m = "tampere"  # a municipality of its own: nothing else lists here
    venue = await api.venue(m, kind="park", name={"fi": "Puisto"})
    a = await api.event(
        municipality=m,
        days=30,
        kind="avaa_tila",
        venue_id=venue["id"],
        audiences=["immigrants"],
        languages=["en", "fi"],
        topics=[{"skill": "Coding"}],
        title={"fi": "Koodikerho puistossa", "en": "Code club in the park"},
    )
    b = await api.event(municipality=m, days=31, kind="course", audiences=["students"],
                        title={"fi": "Excel-kurssi"})  # fmt: skip
    c = await api.event(municipality=m, days=45, kind="course", audiences=["students"],
                        title={"fi": "Python-kurssi"})  # fmt: skip
    await api.event(municipality=m, days=32, publish=False, title={"fi": "Luonnos"})

    async def ids(**params: Any) -> list[str]:
        r = await api.client.get("/events", params={"municipality": m, **params})
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    assert await ids() == [a["id"], b["id"], c["id"]]  # the draft is not listed
    assert await ids(kind="course") == [b["id"], c["id"]]
    assert await ids(kind=["course", "avaa_tila"]) == [a["id"], b["id"], c["id"]]
    assert await ids(audience="immigrants") == [a["id"]]
    assert await ids(topic="coding") == [a["id"]]
    assert await ids(language="en") == [a["id"]]
    assert await ids(venue_kind="park") == [a["id"]]
    assert await ids(q="KURSSI") == [b["id"], c["id"]]
    assert await ids(q="code park") == [a["id"]]
    later = (helsinki_now() + timedelta(days=40)).date().isoformat()
    assert await ids(**{"from": later}) == [c["id"]]
    assert await ids(to=later) == [a["id"], b["id"]]
    # A page (docs/api.md, Collections): limit, offset, the next page's link; next_offset
    # kept for the earlier shape.
    r = await api.client.get("/events", params={"municipality": m, "limit": 2})
    first = r.json()
    assert first["next_offset"] == 2 and len(first["items"]) == 2
    assert (first["limit"], first["offset"], first["total"]) == (2, 0, None)
    assert first["next"].endswith(f"/events?municipality={m}&limit=2&offset=2")
    r = await api.client.get(first["next"])
    assert [e["id"] for e in r.json()["items"]] == [c["id"]] and r.json()["next_offset"] is None
    assert r.json()["offset"] == 2 and r.json()["next"] is None
    drafts = await api.client.get(
        "/events",
        params={"municipality": m, "status": "draft", "limit": 1},
        headers=api.auth("staff", m),
    )
    assert drafts.json()["limit"] == 1 and drafts.json()["next"] is None  # one draft
    # drafts: staff of that municipality only
    r = await api.client.get("/events", params={"municipality": m, "status": "draft"})
    assert r.status_code == 403
    r = await api.client.get(
        "/events", params={"municipality": m, "status": "draft"}, headers=api.auth("staff", m)
    )
    assert [e["title"]["fi"] for e in r.json()["items"]] == ["Luonnos"]
    # an unknown status is the query's validation error, naming which value (as for kind)
    r = await api.client.get("/events", params={"municipality": m, "status": "secret"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status.0"
    r = await api.client.get("/events", params={"municipality": m, "kind": "secret"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind.0"
    r = await api.client.get("/events", params={"limit": 1000})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    # repeated filters are bounded in number and each value in length
    r = await api.client.get("/events", params={"topic": [f"t{i}" for i in range(21)]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "topic"
    r = await api.client.get("/events", params={"topic": [f"t{i}" for i in range(20)]})
    assert r.status_code == 200, r.text
    r = await api.client.get("/events", params={"language": ["fi", "x" * 101]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language.1"
