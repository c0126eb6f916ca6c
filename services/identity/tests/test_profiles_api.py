"""Profiles with visibility, contact changes for notifications, and the mentor directory:
only opted-in people, searchable by skill and language, within the caller's municipality."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx


async def test_profile_update_publishes_skills_without_personal_data(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any
) -> None:
    out = await signup()
    uid = out["user"]["id"]
    body = {
        "languages": ["fi", "en", "fi"],
        "skills": [
            {"skill": "  3D Printing ", "level": "beginner"},
            {"skill": "3d printing", "level": "advanced"},
        ],
        "wants": [{"skill": "Podcasting"}],
        "interests": [{"skill": "Board Games", "level": "beginner"}],
        "visibility": "private",
    }
    saved = await client.put("/me/profile", json=body, headers=out["headers"])
    assert saved.status_code == 200
    profile = saved.json()
    assert profile["languages"] == ["fi", "en"]
    assert profile["skills"] == [{"skill": "3d printing", "level": "advanced"}]
    assert profile["interests"] == [{"skill": "board games", "level": "beginner"}]
    [event] = await published.wait("kohtaamo.identity.profile.updated.v1", user_id=uid)
    assert event["data"]["skills_offered"] == [{"skill": "3d printing", "level": "advanced"}]
    assert event["data"]["skills_wanted"] == [{"skill": "podcasting", "level": None}]
    assert event["data"]["interests"] == ["board games"]
    assert "display_name" not in event["data"] and "email" not in event["data"]

    bad = await client.put(
        "/me/profile", json={"skills": [{"skill": "x", "level": "guru"}]}, headers=out["headers"]
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "skills.0.level"
    got = await client.get("/me/profile", headers=out["headers"])
    assert got.json()["visibility"] == "private"


async def test_profile_visibility(
    client: httpx.AsyncClient, signup: Callable[..., Any], staff_user: Callable[..., Any]
) -> None:
    owner = await signup()
    neighbour = await signup()
    kouvolan = await signup("kouvola")
    staff = await staff_user(["staff"])
    url = f"/users/{owner['user']['id']}/profile"

    async def visible_to(headers: dict[str, str] | None) -> int:
        return (await client.get(url, headers=headers or {})).status_code

    for visibility, expected in (
        ("public", (200, 200, 200, 200)),
        ("municipality", (404, 200, 404, 200)),
        ("private", (404, 404, 404, 200)),
    ):
        await client.put("/me/profile", json={"visibility": visibility}, headers=owner["headers"])
        seen = (
            await visible_to(None),
            await visible_to(neighbour["headers"]),
            await visible_to(kouvolan["headers"]),
            await visible_to(staff["headers"]),
        )
        assert seen == expected, visibility
        assert await visible_to(owner["headers"]) == 200


async def test_contact_changes_reach_notifications_through_contact_changed(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any
) -> None:
    out = await signup()
    uid = out["user"]["id"]
    changed = await client.patch(
        "/me/contact",
        json={
            "display_name": "Uusi Nimi",
            "language": "en",
            "channels": {"*": ["email"], "reminder": ["sms", "inapp"]},
            "quiet_hours": {"start": "21:00", "end": "07:30"},
        },
        headers=out["headers"],
    )
    assert changed.status_code == 200 and changed.json()["display_name"] == "Uusi Nimi"
    events = await published.wait(
        "kohtaamo.identity.contact.changed.v1", user_id=uid, display_name="Uusi Nimi"
    )
    data = events[0]["data"]
    assert data["language"] == "en" and data["email"] == out["email"]
    assert data["channels"] == {"*": ["email"], "reminder": ["sms", "inapp"]}
    assert data["quiet_hours"] == {"start": "21:00:00", "end": "07:30:00"}

    bad = await client.patch(
        "/me/contact", json={"timezone": "Nowhere/Land"}, headers=out["headers"]
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "timezone"
    bad_channel = await client.patch(
        "/me/contact", json={"channels": {"*": ["pigeon"]}}, headers=out["headers"]
    )
    assert bad_channel.status_code == 422
    assert bad_channel.json()["errors"][0]["field"].startswith("channels")
    # Kinds become field names in the store: dotted, dollar, empty or odd ones are refused
    # (the fuzzer found a 500 here).
    for kind in ("a.b", "$set", "", "\ud960\ude1a", "Booking", "x" * 41):
        odd = await client.patch(  # json.dumps: escapes the lone surrogates as \\uXXXX
            "/me/contact",
            content=json.dumps({"channels": {kind: ["email"]}}),
            headers={**out["headers"], "content-type": "application/json"},
        )
        assert odd.status_code == 422, (kind, odd.text)
        assert odd.json()["errors"][0]["field"].startswith("channels"), kind
    many = {f"kind_{i}": ["email"] for i in range(21)}
    too_many = await client.patch("/me/contact", json={"channels": many}, headers=out["headers"])
    assert too_many.status_code == 422


async def test_mentor_directory_lists_only_opted_in_and_searches(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any
) -> None:
    tag = f"skill{id(client) % 100000}"
    python_mentor = await signup()
    swedish_mentor = await signup()
    withdrawn = await signup()
    quiet = await signup()  # has the skill in the profile but offers nothing
    kouvola_mentor = await signup("kouvola")
    searcher = await signup()

    offers = [
        (
            python_mentor,
            {
                "topics": [{"skill": f"Python {tag}", "level": "professional"}],
                "languages": ["fi", "en"],
                "bio": "Ohjelmointia",
                "kind": "professional",
            },
        ),
        (swedish_mentor, {"topics": [{"skill": f"Excel {tag}"}], "languages": ["sv"]}),
        (withdrawn, {"topics": [{"skill": f"Python {tag}"}], "languages": ["fi"]}),
        (kouvola_mentor, {"topics": [{"skill": f"Python {tag}"}], "languages": ["fi"]}),
    ]
    for person, offer in offers:
        response = await client.put("/me/mentor-offer", json=offer, headers=person["headers"])
        assert response.status_code == 200, response.text
    await client.put(
        "/me/profile", json={"skills": [{"skill": f"python {tag}"}]}, headers=quiet["headers"]
    )
    gone = await client.delete("/me/mentor-offer", headers=withdrawn["headers"])
    assert gone.status_code == 204
    again = await client.delete("/me/mentor-offer", headers=withdrawn["headers"])
    assert again.status_code == 404
    [off] = await published.wait(
        "kohtaamo.identity.mentor.offer_changed.v1", user_id=withdrawn["user"]["id"], active=False
    )
    assert off["data"]["topics"] == [{"skill": f"python {tag}", "level": None}]

    async def search(**params: str) -> set[str]:
        response = await client.get("/mentors", params=params, headers=searcher["headers"])
        assert response.status_code == 200
        return {m["user_id"] for m in response.json()["items"]}

    assert await search(skill=f"python {tag}") == {python_mentor["user"]["id"]}
    assert await search(skill=tag) == {python_mentor["user"]["id"], swedish_mentor["user"]["id"]}
    assert await search(skill=tag, language="sv") == {swedish_mentor["user"]["id"]}
    assert await search(skill=f"{tag}", language="en") == {python_mentor["user"]["id"]}
    listed = (
        await client.get("/mentors", params={"skill": f"python {tag}"}, headers=searcher["headers"])
    ).json()["items"]
    assert listed[0]["display_name"] and listed[0]["kind"] == "professional"
    assert "email" not in listed[0]
    kouvola = await client.get("/mentors", params={"skill": tag}, headers=kouvola_mentor["headers"])
    assert {m["user_id"] for m in kouvola.json()["items"]} == {kouvola_mentor["user"]["id"]}
    assert (await client.get("/mentors")).status_code == 401
    bad = await client.put(
        "/me/mentor-offer", json={"topics": [], "languages": ["fi"]}, headers=searcher["headers"]
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "topics"


async def test_concurrent_changes_to_one_profile_never_fail_with_500(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    bodies = [{"skills": [{"skill": f"skill {n}"}]} for n in range(4)]
    responses = await asyncio.gather(
        *(client.put("/me/profile", json=b, headers=out["headers"]) for b in bodies)
    )
    statuses = [r.status_code for r in responses]
    # A transaction that loses a write conflict answers 409 with Retry-After; never 500.
    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    for response in responses:
        if response.status_code == 409:
            assert response.headers["Retry-After"] == "1"
    final = (await client.get("/me/profile", headers=out["headers"])).json()
    assert [s["skill"] for s in final["skills"]] in [[f"skill {n}"] for n in range(4)]
