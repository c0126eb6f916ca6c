"""Conditional and idempotent requests: what `Idempotency-Key` and `If-Match` cost, against
the same requests without them in the same run (kit.idempotency, kit.conditional).

Over the bookings service's HTTP app (in process, real store and broker):
- `POST /bookings` without a key (the baseline), with a fresh key each (a reservation
  and the answer's record: two more writes), and a retry of an answered key (a replay:
  one read, no booking work);
- `PATCH /resources/{id}` without If-Match (baseline) and with the current ETag (the
  revision in the update's filter), each followed by nothing else.

Requests are interleaved in rounds so that load from elsewhere hits all alike. Targets:
a keyed booking within 1.5x the unkeyed one's median; a replay at most the unkeyed one's
median; a conditional PATCH within 1.2x the plain one.

Run: `uv run python bench/conditional_requests.py`. Results:
bench/results/conditional_requests.json
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from common import environment, percentiles, write

from bookings.main import service
from bookings.settings import BookingsSettings
from kit.testing import TestIssuer

ROUNDS = 60
WEEK = {str(d): [{"opens": "07:00", "closes": "20:00"}] for d in range(7)}


async def timed(work: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = await work
    return time.perf_counter() - began, result


async def main() -> None:
    with environment() as env:
        settings = BookingsSettings(
            amqp_url=env["amqp_url"],
            mongo_url=env["mongo_url"],
            mongo_db=f"bench_conditional_{env['run']}",
            log_level="WARNING",
            log_format="json",
        )
        svc = service(settings)
        issuer = TestIssuer()
        svc.verifier.trust(issuer.issuer, issuer.jwks)
        app = svc.create_app()
        await svc.start()
        try:
            figures = await measure(svc, app, issuer)
        finally:
            await svc.stop()
    write("conditional_requests", figures)


async def measure(svc: Any, app: Any, issuer: TestIssuer) -> dict[str, Any]:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
    staff = issuer.headers(sub="staff-bench", roles=["staff"], municipality="helsinki")
    location = await client.post(
        "/locations",
        json={"name": {"fi": "Bench"}, "kind": "urban_office", "hours": {"weekly": WEEK}},
        headers=staff,
    )
    assert location.status_code == 201, location.text
    rules = {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 60, "max_days_ahead": 60}
    rooms = []
    for name in ("plain", "keyed", "patched"):
        made = await client.post(
            "/resources",
            json={
                "location_id": location.json()["id"],
                "kind": "meeting_room",
                "name": {"fi": name},
                "capacity": 4,
                "rules": rules,
            },
            headers=staff,
        )
        assert made.status_code == 201, made.text
        rooms.append(made.json()["id"])
    plain_room, keyed_room, patched_room = rooms
    # 10:00 Helsinki time is 07:00 or 08:00 UTC: 20 half hours a day from there
    day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)

    def booking(room: str, n: int) -> dict[str, Any]:
        start = day + timedelta(days=n // 20, minutes=30 * (n % 20))
        return {
            "resource_id": room,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(),
        }

    samples: dict[str, list[float]] = {
        k: [] for k in ("plain", "keyed", "replay", "patch", "if_match")
    }
    replays_equal = 0
    etag = (await client.get(f"/resources/{patched_room}", headers=staff)).headers["etag"]
    for n in range(ROUNDS):
        user = issuer.headers(sub=f"u-{uuid.uuid4().hex[:8]}", roles=["resident"])
        t, plain = await timed(client.post("/bookings", json=booking(plain_room, n), headers=user))
        assert plain.status_code == 201, plain.text
        samples["plain"].append(t)
        keyed_headers = {**user, "Idempotency-Key": uuid.uuid4().hex}
        body = booking(keyed_room, n)
        t, keyed = await timed(client.post("/bookings", json=body, headers=keyed_headers))
        assert keyed.status_code == 201, keyed.text
        samples["keyed"].append(t)
        t, replay = await timed(client.post("/bookings", json=body, headers=keyed_headers))
        replays_equal += replay.content == keyed.content
        samples["replay"].append(t)
        t, patched = await timed(
            client.patch(f"/resources/{patched_room}", json={"capacity": 4 + n % 3}, headers=staff)
        )
        assert patched.status_code == 200, patched.text
        samples["patch"].append(t)
        etag = patched.headers["etag"]
        t, conditional = await timed(
            client.patch(
                f"/resources/{patched_room}",
                json={"capacity": 5 + n % 3},
                headers={**staff, "If-Match": etag},
            )
        )
        assert conditional.status_code == 200, conditional.text
        samples["if_match"].append(t)
    await client.aclose()
    median = {k: statistics.median(v) for k, v in samples.items()}
    mine = await svc.store.db.bookings.count_documents({"resource_id": keyed_room})
    return {
        "rounds": ROUNDS,
        "latency": {k: percentiles(v) for k, v in samples.items()},
        "keyed_booking": {
            "ratio": round(median["keyed"] / median["plain"], 3),
            "target_ratio_max": 1.5,
        },
        "replay": {
            "ratio": round(median["replay"] / median["plain"], 3),
            "target_ratio_max": 1.0,
        },
        "if_match_patch": {
            "ratio": round(median["if_match"] / median["patch"], 3),
            "target_ratio_max": 1.2,
        },
        "replays_byte_for_byte": replays_equal,
        "keyed_bookings_stored": mine,  # one per key, however often retried
    }


if __name__ == "__main__":
    asyncio.run(main())
