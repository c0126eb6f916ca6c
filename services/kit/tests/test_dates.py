"""A request's calendar day far outside any booking's or event's range is a 422 naming the
parameter, not an overflow (500) in time-zone arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI, Query

from kit.dates import Day
from kit.problems import install_problem_handlers


async def test_day_outside_the_calendar_is_refused_naming_it() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/day")
    async def day_view(day: Annotated[Day, Query(alias="date")]) -> dict[str, str]:
        start = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo("Europe/Helsinki"))
        return {"utc": start.astimezone(UTC).isoformat()}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.get("/day", params={"date": "2026-11-25"})
        first = await client.get("/day", params={"date": "0001-01-01"})
        last = await client.get("/day", params={"date": "9999-12-31"})
    assert ok.status_code == 200 and ok.json()["utc"] == "2026-11-24T22:00:00+00:00"
    for refused in (first, last):
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["date"]
