"""Events at the edges: public links only, text a format cannot carry as it is, and dates
outside what the service can represent (4xx naming the field, never 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from icalendar import Calendar

from events.settings import EventsSettings
from kit.app import Service


def client_from(app: Any, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://events.test")


FORWARDED = {
    "X-Forwarded-Host": "kohtaamo.example.fi",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/api/v1",
}


async def links(client: httpx.AsyncClient, event_id: str, **headers: str) -> tuple[str, str]:
    ld = (await client.get(f"/events/{event_id}/jsonld", headers=headers)).json()
    ics = await client.get(f"/events/{event_id}/event.ics", headers=headers)
    [vevent] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert ld["@id"] == ld["url"]
    return ld["url"], str(vevent["url"])


async def test_links_name_the_public_address_never_the_service(
    api: Any, app: Any, svc: Service[EventsSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await api.event()
    eid = event["id"]
    # Behind the gateway (a trusted proxy on loopback): its forwarded address.
    public = f"https://kohtaamo.example.fi/api/v1/events/{eid}"
    assert await links(api.client, eid, **FORWARDED) == (public, public)
    # Called directly: the address the caller used.
    direct = f"http://events.test/events/{eid}"
    assert await links(api.client, eid) == (direct, direct)
    # Forwarded headers from anyone else, or not a host, are not believed.
    async with client_from(app, "198.51.100.7") as stranger:
        assert await links(stranger, eid, **FORWARDED) == (direct, direct)
    forged = {**FORWARDED, "X-Forwarded-Host": "evil.example/phish?"}
    # (the trusted proxy's scheme still counts: uvicorn's proxy-header handling)
    secure = direct.replace("http:", "https:")
    assert await links(api.client, eid, **forged) == (secure, secure)
    # A configured public URL wins over everything.
    monkeypatch.setattr(svc.settings, "public_url", "https://kohtaamo.helsinki.example/")
    configured = f"https://kohtaamo.helsinki.example/api/v1/events/{eid}"
    assert await links(api.client, eid, **forged) == (configured, configured)
    feed = await api.client.get("/feeds/events.ics", params={"lang": "fi"})
    assert configured.encode() in feed.content and b"127.0.0.1" not in feed.content


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    "path", ["/events", "/feeds/events.ics", "/events/calendar/2027/1", "/events/search"]
)
async def test_dates_past_the_calendar_are_422_naming_the_field(api: Any, path: str) -> None:
    for name, value in (("from", "0001-01-01T00:00:00"), ("to", "9999-12-31T23:59:59+00:00")):
        response = await api.client.get(path, params={name: value})
        if response.status_code == 404 and path != "/events":
            continue  # a path this service does not have
        assert name in fields(response)


async def test_event_dates_past_the_calendar_are_422(api: Any) -> None:
    body = {
        "kind": "workshop",
        "title": {"fi": "Aikamatka"},
        "starts_at": "0001-01-01T00:00:00+00:00",
        "ends_at": "0001-01-01T02:00:00+00:00",
    }
    assert {"starts_at", "ends_at"} <= set(
        fields(await api.client.post("/events", json=body, headers=api.auth()))
    )
    event = await api.event()
    patch = {"registration_closes_at": "9999-12-31T23:59:59-12:00"}
    response = await api.client.patch(f"/events/{event['id']}", json=patch, headers=api.auth())
    assert "registration_closes_at" in fields(response)


async def test_line_breaks_in_a_title_are_escaped_in_icalendar(api: Any) -> None:
    title = "Rivi 1\nRivi 2\r\nRivi 3;, \\ loppu"
    event = await api.event(title={"fi": title}, description={"fi": "a\nb"})
    one = await api.client.get(f"/events/{event['id']}/event.ics")
    assert one.status_code == 200, one.text
    [vevent] = Calendar.from_ical(one.content).walk("VEVENT")
    assert str(vevent["summary"]).replace("\r\n", "\n") == title.replace("\r\n", "\n")
    # No bare line break inside a property: every physical line is a property or a fold.
    for line in one.content.split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line
    feed = await api.client.get("/feeds/events.ics", params={"municipality": "helsinki"})
    assert feed.status_code == 200
    Calendar.from_ical(feed.content)


def unknown(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["type"] == "extra_forbidden"
    answer: dict[str, Any] = error
    return answer


async def test_requests_are_strict_and_bounded(api: Any) -> None:
    """A misspelt field is a 422 with what was meant (it used to create an event without
    a capacity limit); titles, texts and lists have maximum sizes; a body that is not JSON
    is a 400 saying so."""
    staff = api.auth()
    starts = "2030-03-01T10:00:00+02:00"
    body = {"kind": "workshop", "title": {"fi": "Paja"}, "starts_at": starts,
            "ends_at": "2030-03-01T12:00:00+02:00"}  # fmt: skip
    error = unknown(await api.client.post("/events", json={**body, "capcity": 5}, headers=staff))
    assert error["field"] == "capcity" and error["did_you_mean"] == "capacity"
    nested = {**body, "price": {"free": False, "amout": 5}}
    error = unknown(await api.client.post("/events", json=nested, headers=staff))
    assert error["field"] == "price.amout" and error["did_you_mean"] == "amount"

    long_title = {**body, "title": {"fi": "x" * 201}}
    assert fields(await api.client.post("/events", json=long_title, headers=staff)) == ["title.fi"]
    essay = {**body, "description": {"fi": "x" * 5001}}
    assert fields(await api.client.post("/events", json=essay, headers=staff)) == ["description.fi"]
    topics = {**body, "topics": [{"skill": f"t{i}"} for i in range(31)]}
    assert fields(await api.client.post("/events", json=topics, headers=staff)) == ["topics"]
    made = await api.client.post(
        "/events", json={**body, "title": {"fi": "x" * 200}}, headers=staff
    )
    assert made.status_code == 201, made.text
    patch = {"titel": {"fi": "Uusi"}}
    error = unknown(
        await api.client.patch(f"/events/{made.json()['id']}", json=patch, headers=staff)
    )
    assert error["field"] == "titel" and error["did_you_mean"] == "title"
    venue = {"kind": "library", "name": {"fi": "x" * 201}}
    assert fields(await api.client.post("/venues", json=venue, headers=staff)) == ["name.fi"]

    broken = await api.client.post(
        "/events",
        content=b'{"kind": "workshop",',
        headers={**staff, "content-type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["title"] == "Invalid JSON"
    assert [e["field"] for e in broken.json()["errors"]] == ["body"]
