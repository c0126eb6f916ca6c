"""What refusing unknown query parameters costs (kit.query, issue 24): the same GET with
five query parameters, over an HTTP-only kit app in process (no store, no broker), with the
check (as every kit app has it) and with it replaced by a dependency that does nothing (the
baseline), in the same run. Requests are interleaved in rounds so that load from elsewhere
hits both alike; an unknown parameter's 422 is measured too.

Target: the checked request within 1.1x the baseline's median.

Run: `uv run python bench/query_check.py`. Results: bench/results/query_check.json
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from common import percentiles, write
from fastapi import APIRouter, Query

import kit.web
from kit.settings import KitSettings
from kit.web import WebService

ROUNDS = 40
PER_ROUND = 50
QUERY = {"from": "2026-12-01", "to": "2026-12-31", "kind": "course", "limit": "20", "offset": "0"}


async def nothing() -> None:
    return None


def app(checked: bool) -> Any:
    web = WebService("bench", settings=KitSettings(mongo_kind="mongodb"))
    router = APIRouter()

    @router.get("/things")
    async def things(
        start: Annotated[str | None, Query(alias="from")] = None,
        end: Annotated[str | None, Query(alias="to")] = None,
        kind: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> dict[str, int]:
        return {"limit": limit, "offset": offset}

    web.include_router(router)
    real = kit.web.known_query
    if not checked:
        kit.web.known_query = nothing  # type: ignore[assignment]  # the unchecked baseline
    try:
        return web.create_app()
    finally:
        kit.web.known_query = real


async def timed(client: httpx.AsyncClient, params: dict[str, str], status: int) -> float:
    started = time.perf_counter()
    for _ in range(PER_ROUND):
        answer = await client.get("/things", params=params)
        assert answer.status_code == status, answer.text
    return (time.perf_counter() - started) / PER_ROUND * 1000


async def main() -> None:
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app(checked)), base_url="http://bench"
        )
        for name, checked in (("baseline", False), ("checked", True))
    }
    samples: dict[str, list[float]] = {"baseline": [], "checked": [], "unknown_422": []}
    for _ in range(ROUNDS):
        samples["baseline"].append(await timed(clients["baseline"], QUERY, 200))
        samples["checked"].append(await timed(clients["checked"], QUERY, 200))
        samples["unknown_422"].append(await timed(clients["checked"], {**QUERY, "limt": "5"}, 422))
    for client in clients.values():
        await client.aclose()
    medians = {k: statistics.median(v) for k, v in samples.items()}
    figures = {
        "rounds": ROUNDS,
        "requests_per_round": PER_ROUND,
        "ms_per_request": {k: percentiles(v) for k, v in samples.items()},
        "ratio_checked_vs_baseline": round(medians["checked"] / medians["baseline"], 3),
        # An error answer's rendering costs more; not held to the target.
        "unknown_parameter": {
            "ratio_422_vs_baseline": round(medians["unknown_422"] / medians["baseline"], 3)
        },
        "target_ratio_max": 1.1,
    }
    path = write("query_check", figures)
    print(
        f"median ms/request: baseline {medians['baseline']:.3f}, checked "
        f"{medians['checked']:.3f} ({figures['ratio_checked_vs_baseline']}x), unknown "
        f"parameter 422 {medians['unknown_422']:.3f} "
        f"({figures['unknown_parameter']['ratio_422_vs_baseline']}x); wrote {path}"
    )


if __name__ == "__main__":
    asyncio.run(main())
