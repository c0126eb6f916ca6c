"""A resource's availability for a month stays cheap with 50 resources and 12,000
bookings (issue 18): `GET /resources/{id}/availability` for a month at 50 concurrent
connections against ONE bookings process, against the same process's `/healthz` under the
same load in the same run (target: at least 0.03 of its req/s, p99 under 400 ms).

The bookings are loaded through the HTTP API (the booking path: rules, desk, calendars,
outbox): 8 half-hour bookings (15 minutes' buffer after) a day per resource, on whole hours
of the 12 open hours, over 30 days. The month views are read
round robin over the 50 resources by residents; a day view is measured alike. Rounds of
/healthz and the views are interleaved so that load from elsewhere hits both.

Run: `uv run python bench/catalogue_availability.py`.
Results: bench/results/catalogue_availability.json
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import percentiles, write
from serving import (
    client,
    closed_loop,
    issuer_server,
    kept_environment,
    machine,
    resident_kb,
    service_env,
    service_process,
)

from kit.testing import TestIssuer

TARGET = 0.03
P99_MS = 400
WEEK = {str(d): [{"opens": "08:00", "closes": "20:00"}] for d in range(7)}


async def load(
    http: httpx.AsyncClient, base: str, issuer: TestIssuer, resources: int, bookings: int
) -> tuple[list[str], int]:
    """Resources of one location and `bookings` one-hour bookings over the next 30 days."""
    staff = issuer.headers(roles=["staff"], sub="bench-staff", exp_in=7200)
    r = await http.post(
        f"{base}/locations",
        json={"name": {"fi": "Kirjasto"}, "kind": "urban_office", "hours": {"weekly": WEEK}},
        headers=staff,
    )
    r.raise_for_status()
    location = r.json()["id"]
    ids = []
    for i in range(resources):
        body = {
            "location_id": location,
            "kind": "workstation",
            "name": {"fi": f"Työpiste {i}"},
            "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 120,
                      "max_days_ahead": 90, "buffer_after_minutes": 15},
        }  # fmt: skip
        r = await http.post(f"{base}/resources", json=body, headers=staff)
        r.raise_for_status()
        ids.append(r.json()["id"])
    rnd = random.Random(7)
    first = datetime.now(UTC).date() + timedelta(days=1)
    per_day = max(1, bookings // (resources * 30))
    wanted = []
    for rid in ids:
        for d in range(30):
            day = first + timedelta(days=d)
            for hour in sorted(rnd.sample(range(8, 20), per_day)):
                # Staff book on behalf of residents: no per-user quota in the way.
                wanted.append(
                    {
                        "resource_id": rid,
                        "starts_at": f"{day}T{hour:02d}:00:00",
                        "ends_at": f"{day}T{hour:02d}:30:00",
                        "user_id": f"resident-{rnd.randrange(5000)}",
                    }
                )
    refused: list[str] = []

    async def book(body: dict[str, Any]) -> httpx.Response:
        r = await http.post(f"{base}/bookings", json=body, headers=staff)
        if r.status_code != 201:
            refused.append(r.text[:300])
        return r

    _, samples = await closed_loop(wanted, book, 16)
    made = sum(1 for s in samples if s.status == 201)
    if refused:
        print(f"{len(refused)} bookings refused, e.g. {refused[0]}", file=sys.stderr)
    return ids, made


async def measure(
    url_of: Any, headers: Any, count: int, concurrency: int
) -> tuple[float, list[float], list[int]]:
    async with client(concurrency) as http:

        async def one(i: int) -> httpx.Response:
            return await http.get(url_of(i), headers=headers(i))

        started, samples = await closed_loop(range(count), one, concurrency)
    seconds = samples[-1].done - started
    return count / seconds, [s.seconds for s in samples], [s.status for s in samples]


async def run(
    *, resources: int = 50, bookings: int = 12_000, requests: int = 3_000, rounds: int = 3,
    concurrency: int = 50,
) -> dict[str, Any]:  # fmt: skip
    with kept_environment() as env:
        async with issuer_server() as (issuer, jwks_url):
            with service_process("bookings", service_env(env, issuer, jwks_url)) as (base, pid):
                async with httpx.AsyncClient(timeout=60) as http:
                    ids, made = await load(http, base, issuer, resources, bookings)
                first = datetime.now(UTC).date() + timedelta(days=1)
                month = {"from": str(first), "to": str(first + timedelta(days=29))}
                day = {"from": str(first + timedelta(days=3)), "to": str(first + timedelta(days=3))}
                people = [
                    {"Authorization": f"Bearer {issuer.token(sub=f'r-{i}', exp_in=7200)}"}
                    for i in range(200)
                ]
                targets = {
                    "healthz": lambda i: f"{base}/healthz",
                    "month": lambda i: (
                        f"{base}/resources/{ids[i % len(ids)]}/availability"
                        f"?from={month['from']}&to={month['to']}"
                    ),
                    "day": lambda i: (
                        f"{base}/resources/{ids[i % len(ids)]}/availability"
                        f"?from={day['from']}&to={day['to']}"
                    ),
                }
                rates: dict[str, list[float]] = {k: [] for k in targets}
                latencies: dict[str, list[float]] = {k: [] for k in targets}
                bad: dict[str, int] = {k: 0 for k in targets}
                # warm: every view read once (the first read of a view computes it)
                await measure(targets["month"], lambda i: people[0], len(ids), concurrency)
                await measure(targets["day"], lambda i: people[0], len(ids), concurrency)
                before = machine()
                rss_before = resident_kb(pid)
                for _ in range(rounds):
                    for name, url_of in targets.items():
                        per_s, seconds, statuses = await measure(
                            url_of, lambda i: people[i % len(people)], requests, concurrency
                        )
                        rates[name].append(per_s)
                        latencies[name] += seconds
                        bad[name] += sum(1 for s in statuses if s != 200)
                after = machine()
                rss_after = resident_kb(pid)
                async with httpx.AsyncClient(timeout=60) as http:
                    sample = await http.get(targets["month"](0), headers=people[0])
                    slots = len(sample.json()["slots"])
    healthz = statistics.median(rates["healthz"])
    out: dict[str, Any] = {
        "resources": resources,
        "bookings_made": made,
        "concurrency": concurrency,
        "requests_per_round": requests,
        "rounds": rounds,
        "one_bookings_process": True,
        "machine_before": before,
        "machine_after": after,
        "bookings_rss_kb": {"before": rss_before, "after": rss_after},
        "month_view_slots": slots,
        "healthz": {"per_s": round(healthz, 1), **percentiles(latencies["healthz"])},
        "target_ratio_min": TARGET,
        "target_p99_ms": P99_MS,
    }
    for name in ("month", "day"):
        rate = statistics.median(rates[name])
        out[name] = {
            "per_s": round(rate, 1),
            "rounds_per_s": [round(r, 1) for r in rates[name]],
            "non_200": bad[name],
            **percentiles(latencies[name]),
        }
        out[f"ratio_{name}_vs_healthz"] = round(rate / healthz, 3)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resources", type=int, default=50)
    parser.add_argument("--bookings", type=int, default=12_000)
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            resources=args.resources,
            bookings=args.bookings,
            requests=args.requests,
            rounds=args.rounds,
        )
    )
    write("catalogue_availability", figures)
