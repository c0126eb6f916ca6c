"""Bookings benchmark: a booking burst against a plain insert baseline (same run).

Many people book at once through the service's booking path (one transaction per booking:
calendar claim, overlap check, booking and outbox entry), every slot asked for twice so
half the requests conflict, against plain single-document inserts of the same number of
documents at the same concurrency. Target: throughput >= 0.3 of the baseline with zero
double bookings (checked by reading back every confirmed booking).

Run: `uv run python bench/bookings_burst.py`. Results: bench/results/bookings_burst.json
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, percentiles, write

from bookings.booking import BookingIn, place_booking
from bookings.errors import Clash
from bookings.location import LocationIn, create_location
from bookings.main import service
from bookings.resource import ResourceIn, create_resource
from bookings.rules import Rules
from bookings.seed import _week
from bookings.settings import BookingsSettings
from bookings.store import ensure_indexes
from kit.auth import Principal

RESOURCES = 20
SLOTS = 12  # hourly slots 08-20 on one day
ASKS = 2  # each slot requested twice: one wins, one conflicts
CONCURRENCY = 64


async def run_limited(jobs: list[Any], limit: int) -> list[float]:
    gate = asyncio.Semaphore(limit)
    latencies: list[float] = []

    async def one(job: Any) -> None:
        async with gate:
            began = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(one(j) for j in jobs))
    return latencies


async def main() -> None:
    with environment() as env:
        settings = BookingsSettings(
            amqp_url=env["amqp_url"],
            mongo_url=env["mongo_url"],
            mongo_db=f"bench_bookings_{env['run']}",
        )
        svc = service(settings)
        await ensure_indexes(svc.store)
        await svc.outbox.ensure_indexes()
        location = await create_location(
            svc,
            data=LocationIn(name={"fi": "Bench"}, hours=_week(8, 20, (8, 20))),
            municipality="helsinki",
        )
        week = {d: _week(8, 20).weekly[0] for d in range(7)}
        resources = []
        for i in range(RESOURCES):
            resources.append(
                await create_resource(
                    svc,
                    location=location,
                    data=ResourceIn(
                        location_id=location["_id"],
                        kind="workstation",
                        name={"fi": f"Piste {i}"},
                        rules=Rules(
                            slot_minutes=60, min_minutes=60, max_minutes=120, max_days_ahead=30
                        ),
                        hours={"weekly": week},
                    ),
                )
            )
        day = (datetime.now(UTC) + timedelta(days=3)).date()
        n = RESOURCES * SLOTS * ASKS

        # Baseline: plain inserts of the same number of documents, same concurrency.
        plain = svc.store.db.plain_inserts

        def insert_job(i: int) -> Any:
            async def job() -> None:
                await plain.insert_one({"_id": i, "resource": i % RESOURCES, "at": time.time()})

            return job

        began = time.perf_counter()
        base_lat = await run_limited([insert_job(i) for i in range(n)], CONCURRENCY)
        base_s = time.perf_counter() - began

        outcomes = {"confirmed": 0, "conflict": 0}

        def booking_job(resource: dict[str, Any], hour: int) -> Any:
            async def job() -> None:
                who = Principal(
                    subject=f"u-{uuid.uuid4().hex[:8]}",
                    municipality="helsinki",
                    roles=frozenset({"resident"}),
                    issuer="bench",
                )
                start = datetime.fromisoformat(f"{day.isoformat()}T{8 + hour:02d}:00:00")
                try:
                    await place_booking(
                        svc,
                        principal=who,
                        data=BookingIn(
                            resource_id=resource["_id"],
                            starts_at=start,
                            ends_at=start + timedelta(hours=1),
                        ),
                    )
                    outcomes["confirmed"] += 1
                except Clash:
                    outcomes["conflict"] += 1

            return job

        jobs = [booking_job(r, h) for _ in range(ASKS) for h in range(SLOTS) for r in resources]
        began = time.perf_counter()
        book_lat = await run_limited(jobs, CONCURRENCY)
        book_s = time.perf_counter() - began

        double = 0
        for resource in resources:
            held = await svc.store.db.bookings.find(
                {"resource_id": resource["_id"], "status": "confirmed"}, sort=[("held_from", 1)]
            ).to_list()
            double += sum(1 for a, b in pairwise(held) if b["held_from"] < a["held_until"])
        await svc.store.close()

    base_rate, book_rate = n / base_s, n / book_s
    write(
        "bookings_burst",
        {
            "requests": n,
            "concurrency": CONCURRENCY,
            "baseline_plain_insert": {"per_s": round(base_rate, 1), **percentiles(base_lat)},
            "booking_burst": {"per_s": round(book_rate, 1), **percentiles(book_lat), **outcomes},
            "ratio_vs_baseline": round(book_rate / base_rate, 3),
            "target_ratio": 0.3,
            "double_bookings": double,
            "expected_confirmed": RESOURCES * SLOTS,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
