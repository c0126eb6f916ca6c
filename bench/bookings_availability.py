"""Bookings benchmark: a month's availability for the 50 resources of a busy location,
against reading those resources' bookings for that month (same run, same store).

The month is filled with bookings in bulk (about 8 a day per resource). The availability
is the service's own search (`bookings.search.availability`: one query for the held time,
then the slot sweep per resource). Target: within 5x of the plain read.

Run: `uv run python bench/bookings_availability.py`.
Results: bench/results/bookings_availability.json
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, percentiles, write

from bookings.location import LocationIn, create_location
from bookings.main import service
from bookings.resource import ResourceIn, create_resource
from bookings.rules import Rules
from bookings.search import availability
from bookings.seed import _week
from bookings.settings import BookingsSettings
from bookings.store import ensure_indexes

RESOURCES = 50
DAYS = 30
PER_DAY = 8
ROUNDS = 3


async def main() -> None:
    random.seed(7)
    with environment() as env:
        settings = BookingsSettings(
            amqp_url=env["amqp_url"],
            mongo_url=env["mongo_url"],
            mongo_db=f"bench_avail_{env['run']}",
        )
        svc = service(settings)
        await ensure_indexes(svc.store)
        await svc.outbox.ensure_indexes()
        location = await create_location(
            svc,
            data=LocationIn(name={"fi": "Bench"}, hours=_week(8, 20, (8, 20))),
            municipality="helsinki",
        )
        resources = [
            await create_resource(
                svc,
                location=location,
                data=ResourceIn(
                    location_id=location["_id"],
                    kind="workstation",
                    name={"fi": f"Piste {i}"},
                    rules=Rules(
                        slot_minutes=30,
                        min_minutes=30,
                        max_minutes=120,
                        max_days_ahead=90,
                        buffer_after_minutes=15,
                    ),
                ),
            )
            for i in range(RESOURCES)
        ]
        first = (datetime.now(UTC) + timedelta(days=1)).date()
        last = first + timedelta(days=DAYS - 1)
        docs = []
        for resource in resources:
            for d in range(DAYS):
                day = first + timedelta(days=d)
                # 8 one-hour bookings in the 12 open hours, on whole hours
                for hour in sorted(random.sample(range(8, 20), PER_DAY)):
                    start = datetime.fromisoformat(f"{day.isoformat()}T{hour:02d}:00:00+02:00")
                    end = start + timedelta(hours=1)
                    docs.append(
                        {
                            "_id": uuid.uuid4().hex,
                            "kind": "booking",
                            "resource_id": resource["_id"],
                            "location_id": location["_id"],
                            "municipality": "helsinki",
                            "status": "confirmed",
                            "user_id": "bench",
                            "starts_at": start,
                            "ends_at": end,
                            "held_from": start,
                            "held_until": end + timedelta(minutes=15),
                        }
                    )
        for i in range(0, len(docs), 1000):
            await svc.store.db.bookings.insert_many(docs[i : i + 1000])
        ids = [r["_id"] for r in resources]
        start = datetime.fromisoformat(f"{first.isoformat()}T00:00:00+02:00")
        end = start + timedelta(days=DAYS)

        read_s, avail_s = [], []
        slots = 0
        for _ in range(ROUNDS):
            began = time.perf_counter()
            rows = await svc.store.db.bookings.find(
                {"resource_id": {"$in": ids}, "starts_at": {"$lt": end}, "ends_at": {"$gt": start}},
                projection={"resource_id": 1, "starts_at": 1, "ends_at": 1},
            ).to_list()
            read_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            result = await availability(
                svc, location=location, resources=resources, first=first, last=last
            )
            avail_s.append(time.perf_counter() - began)
            slots = sum(len(r["slots"]) for r in result)
        await svc.store.close()

    read, avail = statistics.median(read_s), statistics.median(avail_s)
    write(
        "bookings_availability",
        {
            "resources": RESOURCES,
            "days": DAYS,
            "bookings_in_month": len(docs),
            "bookings_read": len(rows),
            "free_slots_found": slots,
            "baseline_read_month": {"median_s": round(read, 4), **percentiles(read_s)},
            "availability_month": {"median_s": round(avail, 4), **percentiles(avail_s)},
            "ratio_vs_baseline": round(avail / read, 3),
            "target_ratio_max": 5.0,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
