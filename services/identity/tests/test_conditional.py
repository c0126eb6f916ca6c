"""ETags and If-Match on the caller's account, profile and mentor offer, on the real
store: the stored revision names the version; a stale If-Match is 412 and changes nothing;
of many changes sent with the same ETag at once exactly one applies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx

RACERS = 10
TAG = re.compile(r'^"r([0-9]+)(-[0-9A-Za-z_.]+)?"$')


def revision(etag: str) -> int:
    found = TAG.match(etag)
    assert found, etag
    return int(found.group(1))


async def test_contact_changes_race_on_one_etag(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    person = await signup()
    headers = person["headers"]
    me = await client.get("/me", headers=headers)
    etag = me.headers["etag"]
    held = await client.get("/me", headers={**headers, "If-None-Match": etag})
    assert held.status_code == 304 and held.content == b"" and held.headers["etag"] == etag

    async def rename(n: int) -> httpx.Response:
        return await client.patch(
            "/me/contact", json={"display_name": f"Nimi {n}"}, headers={**headers, "If-Match": etag}
        )

    answers = await asyncio.gather(*(rename(n) for n in range(RACERS)))
    assert sorted(a.status_code for a in answers) == [200] + [412] * (RACERS - 1), [
        a.text for a in answers
    ]
    [won] = [a for a in answers if a.status_code == 200]
    assert revision(won.headers["etag"]) == revision(etag) + 1
    now = await client.get("/me", headers={**headers, "If-None-Match": etag})  # moved on: 200
    assert now.status_code == 200 and now.json()["display_name"] == won.json()["display_name"]
    assert now.headers["etag"] == won.headers["etag"]
    refused = next(a for a in answers if a.status_code == 412)
    assert refused.json()["errors"][0]["field"] == "If-Match"
    # without If-Match (optional in identity) a change applies as before
    plain = await client.patch("/me/contact", json={"language": "sv"}, headers=headers)
    assert plain.status_code == 200 and revision(plain.headers["etag"]) == revision(etag) + 2


async def test_profile_and_mentor_offer_honour_if_match(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    person = await signup()
    headers = person["headers"]
    empty = await client.get("/me/profile", headers=headers)
    assert revision(empty.headers["etag"]) == 0
    body = {"skills": [{"skill": "python"}]}
    # "r0": only if there is none yet; a second such PUT finds one and is refused
    first = await client.put("/me/profile", json=body, headers={**headers, "If-Match": '"r0"'})
    assert first.status_code == 200, first.text
    assert revision(first.headers["etag"]) == 1
    again = await client.put("/me/profile", json=body, headers={**headers, "If-Match": '"r0"'})
    assert again.status_code == 412
    assert revision(again.headers["etag"]) == 1
    read = await client.get("/me/profile", headers=headers)
    assert read.headers["etag"] == first.headers["etag"]
    # someone else reads the same version of it
    seen = await client.get(f"/users/{person['user']['id']}/profile", headers=headers)
    assert seen.headers["etag"] == first.headers["etag"]

    offer = {"topics": [{"skill": "python"}], "languages": ["fi"]}
    made = await client.put("/me/mentor-offer", json=offer, headers={**headers, "If-Match": '"r0"'})
    assert made.status_code == 200 and made.headers["etag"] == '"r1"'
    stale = await client.delete("/me/mentor-offer", headers={**headers, "If-Match": '"r0"'})
    assert stale.status_code == 412
    gone = await client.delete("/me/mentor-offer", headers={**headers, "If-Match": '"r1"'})
    assert gone.status_code == 204


async def test_role_changes_and_birth_date_honour_if_match(
    client: httpx.AsyncClient, signup: Callable[..., Any], staff_user: Callable[..., Any]
) -> None:
    admin = await staff_user(["admin"])
    person = await signup()
    uid = person["user"]["id"]
    url = f"/municipalities/helsinki/users/{uid}"
    seen = (await client.get(url, headers=admin["headers"])).headers["etag"]
    # the person changes their name meanwhile: the admin's ETag is stale
    renamed = await client.patch(
        "/me/contact", json={"display_name": "Uusi Nimi"}, headers=person["headers"]
    )
    assert renamed.status_code == 200
    stale = await client.put(f"{url}/roles/mentor", headers={**admin["headers"], "If-Match": seen})
    assert stale.status_code == 412
    assert (await client.get(url, headers=admin["headers"])).json()["roles"] == ["resident"]
    fresh = (await client.get(url, headers=admin["headers"])).headers["etag"]
    granted = await client.put(
        f"{url}/roles/mentor", headers={**admin["headers"], "If-Match": fresh}
    )
    assert granted.status_code == 200 and granted.json()["roles"] == ["mentor", "resident"]
    assert revision(granted.headers["etag"]) == revision(fresh) + 1

    born = {"birthdate": "1990-05-01"}
    old = await client.put(
        "/me/birthdate", json=born, headers={**person["headers"], "If-Match": seen}
    )
    assert old.status_code == 412
    mine = (await client.get("/me", headers=person["headers"])).headers["etag"]
    given = await client.put(
        "/me/birthdate", json=born, headers={**person["headers"], "If-Match": mine}
    )
    assert given.status_code == 200, given.text


async def test_members_added_at_once_are_all_kept(
    client: httpx.AsyncClient, signup: Callable[..., Any], staff_user: Callable[..., Any]
) -> None:
    founder = await signup()
    people = [await signup() for _ in range(6)]
    staff = await staff_user(["staff"])
    made = await client.post(
        "/organisations",
        json={"name": "Rinnakkain ry", "kind": "association"},
        headers=founder["headers"],
    )
    assert made.status_code == 201, made.text
    url = f"/organisations/{made.json()['id']}"
    seen = (await client.get(url, headers=staff["headers"])).headers["etag"]

    async def add(person: dict[str, Any]) -> httpx.Response:
        return await client.post(
            f"{url}/members",
            json={"user_id": person["user"]["id"], "role": "member"},
            headers=staff["headers"],
        )

    # without If-Match, each addition is made on the list as it then is: none is lost
    answers = await asyncio.gather(*(add(p) for p in people))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    now = await client.get(url, headers=staff["headers"])
    ids = {m["user_id"] for m in now.json()["members"]}
    assert ids == {founder["user"]["id"], *(p["user"]["id"] for p in people)}
    assert revision(now.headers["etag"]) == revision(seen) + len(people)
    # with an old ETag: 412, nobody removed
    gone = people[0]["user"]["id"]
    stale = await client.delete(
        f"{url}/members/{gone}", headers={**staff["headers"], "If-Match": seen}
    )
    assert stale.status_code == 412
    fresh = await client.delete(
        f"{url}/members/{gone}", headers={**staff["headers"], "If-Match": now.headers["etag"]}
    )
    assert fresh.status_code == 200 and gone not in {m["user_id"] for m in fresh.json()["members"]}
