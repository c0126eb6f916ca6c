"""Organisations with members: registration event, business id check, who manages members,
and tenant isolation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


async def test_organisation_with_members(
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    staff_user: Callable[..., Any],
    published: Any,
) -> None:
    founder = await signup()
    member = await signup()
    outsider = await signup()
    kouvolan = await signup("kouvola")
    staff = await staff_user(["staff"])

    bad = await client.post(
        "/organisations",
        json={"name": "Kirjastoyhdistys", "kind": "association", "business_id": "1234567-8"},
        headers=founder["headers"],
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "business_id"
    created = await client.post(
        "/organisations",
        json={
            "name": "Testipaja Oy",
            "kind": "startup",
            "business_id": "1572860-0",
            "size_band": "2-9",
        },
        headers=founder["headers"],
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["municipality"] == "helsinki"
    assert org["members"] == [
        {"user_id": founder["user"]["id"], "role": "contact", "display_name": "Testi Käyttäjä"}
    ]
    [event] = await published.wait(
        "kohtaamo.identity.organisation.registered.v1", organisation_id=org["id"]
    )
    assert event["data"] == {"organisation_id": org["id"], "kind": "startup", "size_band": "2-9"}

    url = f"/organisations/{org['id']}"
    denied = await client.post(
        f"{url}/members", json={"user_id": member["user"]["id"]}, headers=outsider["headers"]
    )
    assert denied.status_code == 403
    added = await client.post(
        f"{url}/members", json={"user_id": member["user"]["id"]}, headers=founder["headers"]
    )
    assert added.status_code == 200
    assert {m["user_id"] for m in added.json()["members"]} == {
        founder["user"]["id"],
        member["user"]["id"],
    }
    foreign = await client.post(
        f"{url}/members", json={"user_id": kouvolan["user"]["id"]}, headers=staff["headers"]
    )
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "user_id"

    # Members are visible to members and staff, not to other residents.
    assert (await client.get(url, headers=member["headers"])).json()["members"]
    assert (await client.get(url, headers=staff["headers"])).json()["members"]
    assert (await client.get(url, headers=outsider["headers"])).json()["members"] is None
    assert (await client.get(url, headers=kouvolan["headers"])).status_code == 403
    listed = await client.get("/organisations?kind=startup", headers=outsider["headers"])
    assert org["id"] in {o["id"] for o in listed.json()["items"]}
    elsewhere = await client.get("/organisations", headers=kouvolan["headers"])
    assert org["id"] not in {o["id"] for o in elsewhere.json()["items"]}

    last_contact = await client.delete(
        f"{url}/members/{founder['user']['id']}", headers=founder["headers"]
    )
    assert last_contact.status_code == 409
    left = await client.delete(f"{url}/members/{member['user']['id']}", headers=member["headers"])
    assert left.status_code == 200 and left.json()["members"] is None  # no longer a member
    remaining = (await client.get(url, headers=founder["headers"])).json()["members"]
    assert [m["user_id"] for m in remaining] == [founder["user"]["id"]]

    duplicate = await client.post(
        "/organisations",
        json={"name": "Copy Oy", "kind": "sme", "business_id": "1572860-0"},
        headers=outsider["headers"],
    )
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "business_id"
