"""Events at the edges: public links only, text a format cannot carry as it is, and dates
outside what the service can represent (4xx naming the field, never 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from icalendar import Calendar

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
    api: Any, app: Any, svc: Service, monkeypatch: pytest.MonkeyPatch
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
