"""A self-declared birth date: given by the person, checked for plausibility, shown on
their account and carried as the `birthdate` claim of their next access token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt


async def test_a_given_birthdate_is_stored_self_declared_and_reaches_the_token(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    assert "birthdate" not in jwt.decode(
        out["tokens"]["access_token"], options={"verify_signature": False}
    )
    given_ = await client.put(
        "/me/birthdate", json={"birthdate": "2008-02-29"}, headers=out["headers"]
    )
    assert given_.status_code == 200, given_.text
    assert given_.json() == {"birthdate": "2008-02-29", "source": "self_declared"}
    me = await client.get("/me", headers=out["headers"])
    assert me.json()["birthdate"] == "2008-02-29"

    renewed = await client.post(
        "/auth/refresh", json={"refresh_token": out["tokens"]["refresh_token"]}
    )
    claims = jwt.decode(renewed.json()["access_token"], options={"verify_signature": False})
    assert claims["birthdate"] == "2008-02-29"


async def test_an_implausible_birthdate_is_refused_naming_the_field(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    tomorrow = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    hostile = (
        "0001-01-01",
        "1899-12-31",
        tomorrow,
        "2008-02-30",
        "yesterday",
        None,
        1e308,
        "9" * 10_000,
        "2008-02-29T25:00",
        [],
        {"$gt": ""},
        "\u0000",
    )
    for bad in hostile:
        response = await client.put(
            "/me/birthdate", json={"birthdate": bad}, headers=out["headers"]
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"] == "birthdate"
    assert (await client.get("/me", headers=out["headers"])).json()["birthdate"] is None
    anonymous = await client.put("/me/birthdate", json={"birthdate": "1990-01-01"})
    assert anonymous.status_code == 401
