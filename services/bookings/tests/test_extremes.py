"""Dates at the edge of the calendar are refused with 422 naming the field (they overflowed
in time-zone arithmetic: 500)."""

from __future__ import annotations

from typing import Any

import httpx

from bookings.testing import Actors, future_day


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


async def test_bookings_loans_series_and_blocks_past_the_calendar(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any
) -> None:
    room = await make_resource()
    camera = await make_resource(
        {"loan": True, "max_loan_days": 5, "check_in_required": False}, kind="equipment"
    )
    user = actors.user("time-traveller")
    timed = {
        "resource_id": room["id"],
        "starts_at": "0001-01-01T00:00:00",
        "ends_at": "0001-01-01T01:00:00",
    }
    assert {"starts_at", "ends_at"} <= set(
        fields(await client.post("/bookings", json=timed, headers=user))
    )
    loan = {
        "resource_id": camera["id"],
        "start_date": future_day(3).isoformat(),
        "end_date": "9999-12-31",
    }
    assert "end_date" in fields(await client.post("/bookings", json=loan, headers=user))
    series = {**timed, "count": 2, "every_weeks": 1}
    assert "starts_at" in fields(await client.post("/series", json=series, headers=user))
    block = {"starts_at": "9999-12-31T23:00:00+00:00", "ends_at": "9999-12-31T23:59:59+00:00"}
    staff = actors.staff()
    response = await client.post(f"/resources/{room['id']}/blocks", json=block, headers=staff)
    assert "starts_at" in fields(response)
