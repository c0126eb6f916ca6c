"""Events benchmarks (issue 4 targets), each against a baseline measured in the same run:

- registration burst: many users sign up at once for an event with few seats, through the
  service's registration path (batched transactions: seat counters, registrations and
  outbox entries), against plain single-document inserts of the same number of documents
  at the same concurrency (target: throughput >= 0.3 of the baseline, zero overbooking).
  One transaction per sign-up (what competing replicas do) is shown for reference: on
  the embedded store their write conflicts make it far slower.
- listing: 50 events out of 10,000 with filters (the service's search), against a plain
  indexed find of 50 documents on the same collection (target: within 3x). Also through
  the HTTP API (in-process ASGI) for what a client sees.

Run: `uv run python bench/events_registration_burst.py [--only burst|listing]`.
Results: bench/results/events_registration_burst.json
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
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, percentiles, write

from events import search, store
from events.main import service
from events.parts import Parts
from events.registration import RegistrationIn, SignUp, write_batch
from events.settings import EventsSettings

N_BURST = 1000
SEATS = 50
N_UNBATCHED = 50
N_EVENTS = 10_000
REPEAT = 40
KINDS = ["workshop", "course", "meetup", "peer_session", "avaa_tila", "staff_training"]
AUDIENCES = ["associations", "ngos", "immigrants", "young_talents", "students", "freelancers",
             "startups", "smes", "staff", "everyone"]  # fmt: skip
LANGS = ["fi", "sv", "en"]
VENUE_KINDS = ["library", "park", "shopping_centre", "cafe", "public_building", "online"]


def settings(env: dict[str, str]) -> EventsSettings:
    return EventsSettings(  # type: ignore[call-arg]  # the rest from the environment
        amqp_url=env["amqp_url"],
        mongo_url=env["mongo_url"],
        mongo_db_prefix=f"bench{env['run']}_",
        log_level="WARNING",
        log_format="json",
    )


def event_doc(i: int, *, municipality: str, starts: datetime, capacity: int | None) -> dict:
    rnd = random.Random(i)
    return {
        "_id": f"evt-bench-{i:06d}",
        "municipality": municipality,
        "timezone": "Europe/Helsinki",
        "status": "published" if rnd.random() < 0.9 else rnd.choice(["cancelled", "completed"]),
        "kind": rnd.choice(KINDS),
        "title": {"fi": f"Tapahtuma {i}", "en": f"Event {i}"},
        "description": {"fi": "Kuvaus " * 20},
        "languages": rnd.sample(LANGS, rnd.randint(1, 2)),
        "audiences": rnd.sample(AUDIENCES, rnd.randint(1, 3)),
        "topics": [
            {"skill": rnd.choice(["coding", "cv", "3d printing", "podcast"]), "level": None}
        ],
        "organiser": {"kind": "staff", "name": "Kirjasto", "organisation_id": None},
        "venue_id": None,
        "venue_kind": rnd.choice(VENUE_KINDS),
        "venue_name": {"fi": "Paikka"},
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "capacity": capacity,
        "max_group_size": 10,
        "registration_required": True,
        "registration_opens_at": None,
        "registration_closes_at": None,
        "min_age": None,
        "max_age": None,
        "price": {"free": True, "amount": None, "currency": "EUR", "info": {}},
        "info_url": None,
        "series_id": None,
        "parent_event_id": None,
        "seats_taken": 0,
        "waiting": 0,
        "waitlist_seq": 0,
        "created_by": "bench",
        "created_at": starts,
        "updated_at": starts,
        "search_text": f"tapahtuma {i} event {i} kuvaus",
    }


async def timed(work: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


async def burst(svc: Any) -> dict[str, Any]:
    db = svc.store.db
    # Baseline: plain single-document inserts, same count, same concurrency.
    plain = db["bench_plain"]
    docs = [
        {"_id": uuid.uuid4().hex, "event_id": "x", "user_id": f"u{i}", "seats": 1,
         "status": "confirmed", "created_at": datetime.now(UTC)}
        for i in range(N_BURST)
    ]  # fmt: skip
    started = time.perf_counter()
    plain_lat = [t for t, _ in await asyncio.gather(*(timed(plain.insert_one(d)) for d in docs))]
    plain_s = time.perf_counter() - started

    event = event_doc(0, municipality="helsinki", starts=datetime.now(UTC) + timedelta(days=3),
                      capacity=SEATS) | {"_id": "evt-burst", "status": "published"}  # fmt: skip
    await db[store.EVENTS].insert_one(event)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            timed(
                svc.part(Parts).registrar.submit(
                    "evt-burst", SignUp(f"user-{i}", RegistrationIn(), None)
                )
            )
            for i in range(N_BURST)
        )
    )
    burst_s = time.perf_counter() - started
    statuses = [r["status"] for _, r in results]
    stored = await db[store.EVENTS].find_one({"_id": "evt-burst"})
    confirmed = await db[store.REGISTRATIONS].count_documents(
        {"event_id": "evt-burst", "status": "confirmed"}
    )

    # Reference: one transaction per sign-up (competing replicas do not share batches).
    one = event | {"_id": "evt-burst-unbatched", "capacity": 20}
    await db[store.EVENTS].insert_one(one)
    started = time.perf_counter()
    attempts = await asyncio.gather(
        *(
            timed(write_batch(svc, one["_id"], [SignUp(f"solo-{i}", RegistrationIn(), None)]))
            for i in range(N_UNBATCHED)
        ),
        return_exceptions=True,  # the driver gives up retrying conflicts after 120 s
    )
    single_s = time.perf_counter() - started
    single = [a for a in attempts if not isinstance(a, BaseException)]
    single_confirmed = sum(1 for _, r in single if r[0]["status"] == "confirmed")

    plain_rate = N_BURST / plain_s
    burst_rate = N_BURST / burst_s
    return {
        "sign_ups": N_BURST,
        "seats": SEATS,
        "plain_insert": {"per_s": round(plain_rate, 1), **percentiles(plain_lat)},
        "registration_burst": {
            "per_s": round(burst_rate, 1),
            **percentiles([t for t, _ in results]),
            "confirmed": statuses.count("confirmed"),
            "waitlisted": statuses.count("waitlisted"),
            "stored_seats_taken": stored["seats_taken"],
            "stored_confirmed": confirmed,
            "overbooked": max(0, confirmed - SEATS),
        },
        "ratio_burst_vs_plain": round(burst_rate / plain_rate, 3),
        "target_ratio": 0.3,
        "unbatched_reference": {
            "sign_ups": N_UNBATCHED,
            "seats": 20,
            "per_s": round(N_UNBATCHED / single_s, 1),
            **percentiles([t for t, _ in single]),
            "confirmed": single_confirmed,
            "gave_up": N_UNBATCHED - len(single),
            "ratio_vs_plain": round(N_UNBATCHED / single_s / plain_rate, 3),
        },
    }


async def listing(svc: Any) -> dict[str, Any]:
    db = svc.store.db
    now = datetime.now(UTC)
    docs = [
        event_doc(
            i,
            municipality="helsinki" if i % 3 else "kouvola",
            starts=now + timedelta(hours=random.Random(i).randint(-24 * 60, 24 * 300)),
            capacity=random.Random(i).choice([None, 10, 20, 50]),
        )
        for i in range(1, N_EVENTS + 1)
    ]
    for i in range(0, len(docs), 500):
        await db[store.EVENTS].insert_many(docs[i : i + 500])

    filters = search.Filters(
        municipality="helsinki",
        start=datetime.now(),  # wall-clock now in the municipality
        kinds=["workshop", "course", "meetup"],
    )
    filtered_text = search.Filters(municipality="helsinki", start=datetime.now(), text="event 1")

    async def service_find(f: search.Filters) -> int:
        items, _ = await search.find(svc, f, limit=50)
        return len(items)

    async def plain_find() -> int:
        found = (
            await db[store.EVENTS]
            .find({"municipality": "helsinki", "status": "published"}, limit=50)
            .to_list(None)
        )
        return len(found)

    app = svc.create_app()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
    params = {"municipality": "helsinki", "kind": ["workshop", "course", "meetup"], "limit": 50}

    async def http_find() -> int:
        r = await client.get("/events", params=params)
        return len(r.json()["items"])

    samples: dict[str, list[float]] = {"plain": [], "service": [], "service_text": [], "http": []}
    counts: dict[str, int] = {}
    for _ in range(REPEAT):  # interleaved so that load from elsewhere hits all alike
        for name, work in (
            ("plain", plain_find),
            ("service", lambda: service_find(filters)),
            ("service_text", lambda: service_find(filtered_text)),
            ("http", http_find),
        ):
            t, n = await timed(work())
            samples[name].append(t)
            counts[name] = n
    await client.aclose()
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "events": N_EVENTS,
        "page": 50,
        "returned": counts,
        "plain_indexed_find": percentiles(samples["plain"]),
        "service_filtered": percentiles(samples["service"]),
        "service_filtered_text": percentiles(samples["service_text"]),
        "http_filtered": percentiles(samples["http"]),
        "ratio_service_vs_plain_p50": round(med["service"] / med["plain"], 2),
        "ratio_service_text_vs_plain_p50": round(med["service_text"] / med["plain"], 2),
        "ratio_http_vs_plain_p50": round(med["http"] / med["plain"], 2),
        "target_ratio_max": 3.0,
    }


async def main(only: str | None) -> None:
    with environment() as env:
        svc = service(settings(env))
        await store.ensure_indexes(svc.store.db)
        await svc.outbox.ensure_indexes()
        try:
            figures = {}
            if only in (None, "burst"):
                figures["burst"] = await burst(svc)
            if only in (None, "listing"):
                figures["listing"] = await listing(svc)
        finally:
            await svc.store.close()
    write("events_registration_burst" + (f"_{only}" if only else ""), figures)


if __name__ == "__main__":
    # `--only burst` or `--only listing` runs one half
    asyncio.run(main(sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--only" else None))
