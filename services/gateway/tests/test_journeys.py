"""End to end through the gateway, with every real service running as its own process
(`kohtaamo run <name>`; see kit.platform): the main user journeys, role and
municipality denial, an upstream that is down and one that is not deployed."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from kit import localstore
from kit.testing import eventually

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.timeout(900)  # starting six processes on a busy machine


async def sign_up(client: httpx.AsyncClient, municipality: str = "helsinki") -> dict[str, str]:
    """Sign up and log in through the gateway; the account's email and bearer headers."""
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.fi"
    signed = await client.post(
        "/api/v1/auth/signup",
        json={
            "municipality": municipality,
            "email": email,
            "password": PASSWORD,
            "display_name": "Maija Meikäläinen",
            "accept_terms": True,
        },
    )
    assert signed.status_code == 201, signed.text
    assert signed.json()["user"]["roles"] == ["resident"]
    login = await client.post(
        "/api/v1/auth/login",
        json={"municipality": municipality, "email": email, "password": PASSWORD},
    )
    assert login.status_code == 200, login.text
    return {"email": email, "Authorization": f"Bearer {login.json()['access_token']}"}


def bearer(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": user["Authorization"]}


async def test_resident_journey(platform: Any) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=30) as client:
        user = await sign_up(client)
        auth = bearer(user)
        me = await client.get("/api/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["email"] == user["email"]
        # One Date (the gateway's server's), not the service's as well; no Server banner.
        assert len(me.headers.get_list("date")) == 1
        assert "server" not in me.headers

        # Find an event (public search, no token needed) and register.
        found = await client.get("/api/v1/events", params={"municipality": "helsinki", "q": "CV"})
        assert found.status_code == 200
        event = next(e for e in found.json()["items"] if e["id"] == "evt-hki-cv")
        assert event["registration_required"] is True
        registered = await client.post(
            f"/api/v1/events/{event['id']}/registrations", json={}, headers=auth
        )
        assert registered.status_code == 201, registered.text
        registration = registered.json()
        assert registration["status"] == "confirmed"

        # Book a workstation: a free slot from availability, then the booking. From three
        # days on, the first day the desk is open long enough (not a Sunday, say).
        for ahead in range(3, 10):
            day = (date.today() + timedelta(days=ahead)).isoformat()
            free = await client.get(
                "/api/v1/resources/res-hki-desk-1/availability",
                params={"from": day, "to": day},
                headers=auth,
            )
            assert free.status_code == 200 and free.json()["kind"] == "workstation"
            if len(free.json()["slots"]) > 2:
                break
        slot = free.json()["slots"][2]
        booked = await client.post(
            "/api/v1/bookings",
            json={"resource_id": "res-hki-desk-1", **slot},
            headers={**auth, "X-Correlation-ID": f"e2e-book-{uuid.uuid4().hex[:8]}"},
        )
        assert booked.status_code == 201, booked.text
        booking = booked.json()
        correlation = booked.request.headers["X-Correlation-ID"]
        assert booked.headers["X-Correlation-ID"] == correlation
        # The correlation id reached the bookings service's own log lines.
        assert correlation in platform.log("bookings")

        # My page shows both, and the notices the notifications service produced from them.
        async def page_complete() -> bool:
            page = (await client.get("/api/v1/me/overview", headers=auth)).json()
            kinds = {n["kind"] for n in page["parts"]["notices"].get("data", {}).get("items", [])}
            return page["complete"] and "registration_confirmed" in kinds

        await eventually(page_complete, timeout=30)
        page = (await client.get("/api/v1/me/overview", headers=auth)).json()
        assert [b["id"] for b in page["parts"]["bookings"]["data"]["items"]] == [booking["id"]]
        regs = page["parts"]["registrations"]["data"]["items"]
        assert [r["id"] for r in regs] == [registration["id"]]
        assert page["parts"]["notices"]["data"]["unread"] >= 1

        # Cancel both.
        cancelled = await client.post(
            f"/api/v1/bookings/{booking['id']}/cancel", json={}, headers=auth
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        unregistered = await client.post(
            f"/api/v1/registrations/{registration['id']}/cancel", headers=auth
        )
        assert unregistered.status_code == 200, unregistered.text
        assert unregistered.json()["status"] == "cancelled"
        page = (await client.get("/api/v1/me/overview", headers=auth)).json()
        mine = {b["id"]: b["status"] for b in page["parts"]["bookings"]["data"]["items"]}
        assert mine[booking["id"]] == "cancelled"
        states = {r["id"]: r["status"] for r in page["parts"]["registrations"]["data"]["items"]}
        assert states[registration["id"]] == "cancelled"


async def test_role_and_municipality_denial(platform: Any) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=30) as client:
        resident = bearer(await sign_up(client))
        # Roles: a resident may not create events or resources (the services decide).
        for path, body in (
            ("/api/v1/events", {"kind": "workshop", "title": {"fi": "Oma"}}),
            ("/api/v1/resources", {"location_id": "loc-hki-oodi-uo", "kind": "workstation"}),
        ):
            denied = await client.post(path, json=body, headers=resident)
            assert denied.status_code == 403, (path, denied.text)
            assert denied.headers["content-type"] == "application/problem+json"
        # Municipality: a Helsinki resident cannot act in Kouvola.
        kouvola_event = await client.post(
            "/api/v1/events/evt-kvl-podcast/registrations", json={}, headers=resident
        )
        assert kouvola_event.status_code == 403, kouvola_event.text
        day = (date.today() + timedelta(days=3)).isoformat()
        kouvola_desk = await client.post(
            "/api/v1/bookings",
            json={
                "resource_id": "res-kvl-desk-1",
                "starts_at": f"{day}T10:00:00+02:00",
                "ends_at": f"{day}T11:00:00+02:00",
            },
            headers=resident,
        )
        assert kouvola_desk.status_code == 403, kouvola_desk.text
        users = await client.get("/api/v1/municipalities/kouvola/users", headers=resident)
        assert users.status_code == 403
        # No token where one is needed: the service says 401 through the gateway.
        anonymous = await client.get("/api/v1/bookings/mine")
        assert anonymous.status_code == 401
        # A forged token stops at the gateway.
        forged = resident["Authorization"][:-6] + "AAAAAA"
        stopped = await client.get("/api/v1/me", headers={"Authorization": forged})
        assert stopped.status_code == 401


async def test_down_and_not_deployed_with_real_services(platform: Any, make_gateway: Any) -> None:
    """This site runs identity, events and bookings; notifications is configured but down,
    analytics is not deployed here."""
    dead = f"http://127.0.0.1:{localstore.free_port()}"
    upstreams = {name: platform.urls[name] for name in ("identity", "events", "bookings")}
    async with make_gateway(
        {**upstreams, "notifications": dead, "analytics": None},
        identity_url=platform.urls["identity"],
        trust_own_identity=True,
    ) as (client, _):
        user = await sign_up(client)
        auth = bearer(user)
        page = await client.get("/api/v1/me/overview", headers=auth)
        assert page.status_code == 200
        parts = page.json()["parts"]
        assert parts["bookings"]["status"] == "ok" and parts["registrations"]["status"] == "ok"
        assert parts["notices"]["status"] == "unavailable"
        assert parts["notices"]["problem"]["status"] == 502
        down = await client.get("/api/v1/notifications/inbox", headers=auth)
        assert down.status_code == 502 and down.json()["service"] == "notifications"
        absent = await client.get("/api/v1/analytics/reports/esf", headers=auth)
        assert absent.status_code == 503 and absent.json()["service"] == "analytics"
        assert "not deployed" in absent.json()["detail"]
        # The services that are up keep working.
        assert (await client.get("/api/v1/events")).status_code == 200
