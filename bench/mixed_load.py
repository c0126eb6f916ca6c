"""Mixed load: many simulated people use the whole platform at once, through the gateway,
for a bounded time; then the booking and seat invariants are checked in the stores.

The platform (identity, events, bookings, gateway; each service its own process and
database, on a vhost of its own) is started with `kit.platform`. Staff create a location
with bookable resources and a few small events; the people sign up through identity, then
each loops without pause over a mix of: browse the event listing, ask a resource's
availability, book a slot, register for an event, cancel one of their bookings, cancel one
of their registrations. Many of them want the same slots and seats, so 409s ("slot taken",
"already registered") are expected and counted apart; any 5xx, other status or transport
error is an error.

Baseline (same run, same gateway, same concurrency): GET /api/v1/events/{id}, a plain
find by id behind the gateway. Ratio = mixed requests/s against baseline requests/s.

Afterwards, read directly from the stores: no two held bookings of a resource overlap; no
event has more confirmed seats than its capacity; each event's counters (seats taken,
waiting) equal its registration documents; nobody holds two active registrations for one
event; every booking and registration a person was told they hold is there.

    uv run python bench/mixed_load.py [--seconds 30] [--users 40] [--resources 6] [--events 4]
        [--services identity,events,bookings,notifications,analytics]

Environment: KOHTAAMO_LOAD_SECONDS, KOHTAAMO_LOAD_USERS override the defaults. Exits 1
when an invariant does not hold. Results: bench/results/mixed_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, percentiles, write

from kit import platform as kit_platform

ZONE = ZoneInfo("Europe/Helsinki")
MUNICIPALITY = "helsinki"
VENUE = "ven-hki-oodi"  # a seeded venue of the events service
PASSWORD = "kirjasto-Kohtaamo-2026!"
DEMO_PASSWORD = "mixed-load-demo-password"
STAFF = f"staff@{MUNICIPALITY}.kohtaamo.example"  # identity's demo staff member
OPEN_HOURS = (8, 20)
BOOKING_DAYS = 3  # tomorrow and the two days after
EVENT_CAPACITY = 12
# Relative weights of what a person does next.
MIX = {
    "browse": 30,
    "availability": 20,
    "book": 20,
    "register": 15,
    "cancel_booking": 8,
    "cancel_registration": 7,
}
# Answers that are a correct "no" under contention, per operation.
EXPECTED = {"book": {409}, "register": {409}}
HELD = ("pending", "confirmed", "checked_in")
NEEDED = ("identity", "events", "bookings")  # the services the workload calls


@dataclass
class Person:
    id: str
    token: str
    bookings: list[str] = field(default_factory=list)
    registrations: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Scene:
    """What staff set up for the run."""

    location: str
    resources: list[str]
    events: list[str]
    days: list[date]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ok: Counter[str] = field(default_factory=Counter)
    expected: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: list[str] = field(default_factory=list)

    def error(self, op: str, what: str, detail: str) -> None:
        self.errors[op][what] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{op}: {what} {detail[:300]}")


def platform_env() -> dict[str, str]:
    """For every process: a known password for the seeded staff member; quiet logs."""
    return {"KOHTAAMO_DEMO_PASSWORD": DEMO_PASSWORD, "KOHTAAMO_LOG_LEVEL": "WARNING"}


# Generous limits: every simulated person comes from the same address.
GATEWAY_ENV = {
    "KOHTAAMO_RATE_LIMIT_CLIENT": "10000000/minute",
    "KOHTAAMO_RATE_LIMIT_USER": "10000000/minute",
    "KOHTAAMO_RATE_LIMIT_AUTH": "10000000/minute",
}


async def call(
    client: httpx.AsyncClient, method: str, path: str, expect: int, **kwargs: Any
) -> Any:
    """A setup step: anything but `expect` stops the run."""
    response = await client.request(method, path, **kwargs)
    if response.status_code != expect:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


async def set_scene(client: httpx.AsyncClient, resources: int, events: int) -> Scene:
    tokens = await call(
        client,
        "POST",
        "/auth/login",
        200,
        json={"municipality": MUNICIPALITY, "email": STAFF, "password": DEMO_PASSWORD},
    )
    staff = {"Authorization": f"Bearer {tokens['access_token']}"}
    every_day = {d: [{"opens": f"{OPEN_HOURS[0]:02d}:00", "closes": f"{OPEN_HOURS[1]:02d}:00"}]
                 for d in range(7)}  # fmt: skip
    location = await call(
        client,
        "POST",
        "/locations",
        201,
        headers=staff,
        json={"name": {"fi": "Kuormitustesti"}, "hours": {"weekly": every_day}},
    )
    made = []
    for i in range(resources):
        resource = await call(
            client,
            "POST",
            "/resources",
            201,
            headers=staff,
            json={
                "location_id": location["id"],
                "kind": "workstation",
                "name": {"fi": f"Piste {i + 1}"},
                "rules": {
                    "slot_minutes": 60,
                    "min_minutes": 60,
                    "max_minutes": 120,
                    "max_days_ahead": 30,
                    "check_in_required": False,
                },
            },
        )
        made.append(resource["id"])
    today = datetime.now(ZONE).date()
    event_ids = []
    for i in range(events):
        starts = datetime.combine(today + timedelta(days=7 + i), datetime.min.time())
        starts = starts.replace(hour=17)
        created = await call(
            client,
            "POST",
            "/events",
            201,
            headers=staff,
            json={
                "kind": "workshop",
                "title": {"fi": f"Kuormitustyöpaja {i + 1}"},
                "venue_id": VENUE,
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "capacity": EVENT_CAPACITY,
                "max_group_size": 2,
            },
        )
        await call(client, "POST", f"/events/{created['id']}/publish", 200, headers=staff)
        event_ids.append(created["id"])
    days = [today + timedelta(days=d) for d in range(1, BOOKING_DAYS + 1)]
    return Scene(location["id"], made, event_ids, days)


async def sign_up(client: httpx.AsyncClient, n: int, concurrency: int) -> list[Person]:
    gate = asyncio.Semaphore(concurrency)
    run = uuid.uuid4().hex[:6]

    async def one(i: int) -> Person:
        async with gate:
            out = await call(
                client,
                "POST",
                "/auth/signup",
                201,
                json={
                    "municipality": MUNICIPALITY,
                    "email": f"load-{run}-{i}@example.fi",
                    "password": PASSWORD,
                    "display_name": f"Kuormittaja {i}",
                    "language": "fi",
                    "accept_terms": True,
                },
            )
            return Person(out["user"]["id"], out["tokens"]["access_token"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def baseline(
    client: httpx.AsyncClient, event_id: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Requests/s of a plain find-by-id through the same gateway, same concurrency."""
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            began = time.perf_counter()
            response = await client.get(f"/events/{event_id}")
            latencies.append(time.perf_counter() - began)
            failures += response.status_code != 200

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "endpoint": "GET /api/v1/events/{id}",
        "requests": len(latencies),
        "failures": failures,
        "per_s": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
    }


class Load:
    def __init__(self, client: httpx.AsyncClient, scene: Scene, seed: int) -> None:
        self.client = client
        self.scene = scene
        self.tally = Tally()
        self.random = random.Random(seed)

    async def request(
        self, op: str, person: Person, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            response = await self.client.request(method, path, headers=person.headers, **kwargs)
        except httpx.HTTPError as exc:  # counted as a request too, until it failed
            self.tally.latencies[op].append(time.perf_counter() - began)
            self.tally.error(op, type(exc).__name__, repr(exc))
            return None
        self.tally.latencies[op].append(time.perf_counter() - began)
        status = response.status_code
        if status < 300:
            self.tally.ok[op] += 1
            return response
        if status in EXPECTED.get(op, ()):
            self.tally.expected[op][status] += 1
        else:
            self.tally.error(op, str(status), response.text)
        return None

    async def browse(self, person: Person) -> None:
        params: dict[str, Any] = {"municipality": MUNICIPALITY, "limit": 20}
        if self.random.random() < 0.3:
            params["kind"] = "workshop"
        await self.request("browse", person, "GET", "/events", params=params)

    async def availability(self, person: Person) -> None:
        resource = self.random.choice(self.scene.resources)
        day = self.random.choice(self.scene.days).isoformat()
        await self.request(
            "availability",
            person,
            "GET",
            f"/resources/{resource}/availability",
            params={"from": day, "to": day},
        )

    async def book(self, person: Person) -> None:
        day = self.random.choice(self.scene.days)
        hours = self.random.choice((1, 1, 2))
        start = self.random.randrange(OPEN_HOURS[0], OPEN_HOURS[1] - hours + 1)
        starts = datetime.combine(day, datetime.min.time()).replace(hour=start)
        response = await self.request(
            "book",
            person,
            "POST",
            "/bookings",
            json={
                "resource_id": self.random.choice(self.scene.resources),
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=hours)).isoformat(),
            },
        )
        if response is not None:
            person.bookings.append(response.json()["id"])

    async def register(self, person: Person) -> None:
        event_id = self.random.choice(self.scene.events)
        response = await self.request(
            "register",
            person,
            "POST",
            f"/events/{event_id}/registrations",
            json={"seats": self.random.choice((1, 1, 1, 2))},
        )
        if response is not None:
            person.registrations.append(response.json()["id"])

    async def cancel_booking(self, person: Person) -> None:
        booking = person.bookings.pop(self.random.randrange(len(person.bookings)))
        response = await self.request(
            "cancel_booking", person, "POST", f"/bookings/{booking}/cancel", json={}
        )
        if response is None:
            person.bookings.append(booking)  # still held as far as anyone knows

    async def cancel_registration(self, person: Person) -> None:
        registration = person.registrations.pop(self.random.randrange(len(person.registrations)))
        response = await self.request(
            "cancel_registration", person, "POST", f"/registrations/{registration}/cancel"
        )
        if response is None:
            person.registrations.append(registration)

    async def person(self, person: Person, deadline: float) -> None:
        ops, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            op = self.random.choices(ops, weights)[0]
            if op == "cancel_booking" and not person.bookings:
                op = "book"
            if op == "cancel_registration" and not person.registrations:
                op = "register"
            await getattr(self, op)(person)

    async def run(self, people: list[Person], seconds: float) -> float:
        began = time.perf_counter()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self.person(p, deadline) for p in people))
        return time.perf_counter() - began

    def figures(self, elapsed: float) -> dict[str, Any]:
        t = self.tally
        operations = {}
        for op in MIX:
            done = len(t.latencies[op])
            operations[op] = {
                "requests": done,
                "per_s": round(done / elapsed, 1),
                "ok": t.ok[op],
                "expected_4xx": {str(k): v for k, v in sorted(t.expected[op].items())},
                "errors": dict(t.errors[op]),
                **percentiles(t.latencies[op]),
            }
        everything = [x for op in MIX for x in t.latencies[op]]
        return {
            "operations": operations,
            "total": {
                "requests": len(everything),
                "per_s": round(len(everything) / elapsed, 1),
                "ok": sum(t.ok.values()),
                "expected_4xx": sum(sum(c.values()) for c in t.expected.values()),
                "errors": sum(sum(c.values()) for c in t.errors.values()),
                **percentiles(everything),
            },
            "error_samples": t.samples,
        }


async def check_invariants(
    platform: kit_platform.Platform, scene: Scene, people: list[Person]
) -> dict[str, Any]:
    """Read the stores directly, after the load."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        platform.mongo_url, retryWrites=False
    )
    try:
        bookings = client[platform.database("bookings")].bookings
        held = await bookings.find(
            {"resource_id": {"$in": scene.resources}, "status": {"$in": list(HELD)}}
        ).to_list()
        by_resource: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for doc in held:
            by_resource[doc["resource_id"]].append(doc)
        overlapping = 0
        for docs in by_resource.values():
            docs.sort(key=lambda d: d["held_from"])
            # Sorted by start, any overlap shows between neighbours or against the
            # furthest end so far.
            reach = None
            for a, b in pairwise(docs):
                reach = a["held_until"] if reach is None else max(reach, a["held_until"])
                overlapping += b["held_from"] < reach
        told_held = {b for p in people for b in p.bookings}
        lost_bookings = len(told_held - {d["_id"] for d in held})

        db = client[platform.database("events")]
        events = await db.events.find({"_id": {"$in": scene.events}}).to_list()
        registrations = await db.registrations.find({"event_id": {"$in": scene.events}}).to_list()
        seats: Counter[str] = Counter()
        waiting: Counter[str] = Counter()
        active: Counter[tuple[str, str]] = Counter()
        for reg in registrations:
            if reg["status"] == "confirmed":
                seats[reg["event_id"]] += reg["seats"]
            elif reg["status"] == "waitlisted":
                waiting[reg["event_id"]] += 1
            if reg["status"] in ("confirmed", "waitlisted"):
                active[(reg["event_id"], reg["user_id"])] += 1
        overbooked = sum(1 for e in events if seats[e["_id"]] > e["capacity"])
        counter_mismatch = sum(
            1
            for e in events
            if e["seats_taken"] != seats[e["_id"]] or e["waiting"] != waiting[e["_id"]]
        )
        told_registered = {r for p in people for r in p.registrations}
        active_ids = {r["_id"] for r in registrations if r["status"] in ("confirmed", "waitlisted")}
        result = {
            "held_bookings": len(held),
            "overlapping_bookings": overlapping,
            "bookings_told_held_but_not": lost_bookings,
            "registrations": len(registrations),
            "confirmed_seats": sum(seats.values()),
            "capacity": sum(e["capacity"] for e in events),
            "overbooked_events": overbooked,
            "events_with_wrong_counters": counter_mismatch,
            "duplicate_active_registrations": sum(1 for n in active.values() if n > 1),
            "registrations_told_active_but_not": len(told_registered - active_ids),
            "events_checked": len(events),
        }
    finally:
        await client.close()
    result["held"] = result["events_checked"] == len(scene.events) and not any(
        result[k]
        for k in (
            "overlapping_bookings",
            "bookings_told_held_but_not",
            "overbooked_events",
            "events_with_wrong_counters",
            "duplicate_active_registrations",
            "registrations_told_active_but_not",
        )
    )
    return result


async def run_load(
    platform: kit_platform.Platform,
    *,
    seconds: float,
    users: int,
    resources: int,
    events: int,
    baseline_seconds: float,
    seed: int = 1,
) -> dict[str, Any]:
    """Set the scene, sign the people up, measure the baseline and the mixed load, check
    the invariants; the figures as one dictionary."""
    # Idle connections are dropped well before the servers' 5 s keep-alive ends: otherwise a
    # starved client may reuse one the server is closing (a ReadError that is no fault of
    # the platform).
    limits = httpx.Limits(
        max_connections=users, max_keepalive_connections=users, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(
        base_url=platform.gateway + "/api/v1", timeout=60, limits=limits
    ) as client:
        scene = await set_scene(client, resources, events)
        began = time.perf_counter()
        people = await sign_up(client, users, concurrency=min(users, 8))
        signup_s = time.perf_counter() - began
        base = await baseline(client, scene.events[0], users, baseline_seconds)
        load = Load(client, scene, seed)
        elapsed = await load.run(people, seconds)
    mixed = load.figures(elapsed)
    invariants = await check_invariants(platform, scene, people)
    return {
        "services": sorted(platform.urls),
        "users": users,
        "seconds": round(elapsed, 1),
        "resources": resources,
        "events": events,
        "event_capacity": EVENT_CAPACITY,
        "mix_weights": MIX,
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "sign_up": {"people": users, "seconds": round(signup_s, 1)},
        "baseline": base,
        **mixed,
        "throughput_vs_baseline": {
            "mixed_per_s": mixed["total"]["per_s"],
            "baseline_per_s": base["per_s"],
            "ratio": round(mixed["total"]["per_s"] / base["per_s"], 3) if base["per_s"] else 0,
        },
        "invariants": invariants,
    }


def table(figures: dict[str, Any]) -> str:
    rows = [f"{'operation':<20} {'req':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'4xx ok':>7} {'errors':>6}"]  # fmt: skip
    for op, f in (*figures["operations"].items(), ("all", figures["total"])):
        expected = f["expected_4xx"]
        expected_n = expected if isinstance(expected, int) else sum(expected.values())
        errors = f["errors"] if isinstance(f["errors"], int) else sum(f["errors"].values())
        rows.append(
            f"{op:<20} {f['requests']:>6} {f['per_s']:>7} {f.get('p50_ms', 0):>8} "
            f"{f.get('p95_ms', 0):>8} {f.get('p99_ms', 0):>8} {expected_n:>7} {errors:>6}"
        )
    b = figures["baseline"]
    rows.append(
        f"{'baseline (GET event)':<20} {b['requests']:>6} {b['per_s']:>7} {b['p50_ms']:>8} "
        f"{b['p95_ms']:>8} {b['p99_ms']:>8}"
    )
    rows.append(f"mixed/baseline throughput: {figures['throughput_vs_baseline']['ratio']}")
    rows.append("invariants: " + ", ".join(f"{k}={v}" for k, v in figures["invariants"].items()))
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("KOHTAAMO_LOAD_SECONDS", 30))
    )
    parser.add_argument("--users", type=int, default=int(os.environ.get("KOHTAAMO_LOAD_USERS", 40)))
    parser.add_argument("--resources", type=int, default=6)
    parser.add_argument("--events", type=int, default=4)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument(
        "--services",
        default="identity,events,bookings,notifications,analytics",
        help="comma-separated; identity,events,bookings at least (what the workload calls)",
    )
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="kohtaamo-load-"))
    with environment() as env:
        print(f"starting the platform (logs in {logs})", flush=True)
        platform = kit_platform.start(
            amqp_url=env["amqp_url"],
            mongo_url=env["mongo_url"],
            database_prefix=f"load{env['run']}_",
            logs=logs,
            services=tuple(sorted(set(args.services.split(",")) | set(NEEDED))),
            env=platform_env(),
            gateway_env=GATEWAY_ENV,
        )
        try:
            figures = asyncio.run(
                run_load(
                    platform,
                    seconds=args.seconds,
                    users=args.users,
                    resources=args.resources,
                    events=args.events,
                    baseline_seconds=args.baseline_seconds,
                )
            )
        finally:
            kit_platform.stop(platform)
    print(table(figures))
    write("mixed_load", figures)
    if figures["invariants"]["held"] and not figures["total"]["errors"]:
        shutil.rmtree(logs, ignore_errors=True)
    else:
        print(f"the services' logs are kept in {logs}")
    return 0 if figures["invariants"]["held"] else 1


if __name__ == "__main__":
    sys.exit(main())
