"""The demo seeder: idempotent, and its people can log in and be found."""

from __future__ import annotations

from typing import Any

import httpx

from identity.seed import seed
from identity.settings import DEVELOPMENT_DEMO_PASSWORD


async def test_seed_is_idempotent_and_usable(svc: Any, client: httpx.AsyncClient) -> None:
    first = await seed(svc)
    second = await seed(svc)
    assert first["created"]["users"] == 15  # a platform admin and seven per municipality
    assert first["created"]["offers"] == 4 and first["created"]["organisations"] == 4
    assert second["created"] == {"municipalities": 0, "users": 0, "offers": 0, "organisations": 0}

    login = await client.post(
        "/auth/login",
        json={
            "municipality": "kouvola",
            "email": "admin@kouvola.kohtaamo.example",
            "password": DEVELOPMENT_DEMO_PASSWORD,
        },
    )
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = (await client.get("/me", headers=headers)).json()
    assert me["roles"] == ["admin", "staff"] and me["municipality"] == "kouvola"
    mentors = (await client.get("/mentors?skill=3d printing", headers=headers)).json()["items"]
    assert [m["display_name"] for m in mentors] == ["Mikko Mentor"]
    orgs = (await client.get("/organisations", headers=headers)).json()["items"]
    assert {(o["name"], o["kind"]) for o in orgs} == {
        ("Lukupiiri ry", "ngo"),
        ("Maker Start-up Oy", "startup"),
    }
