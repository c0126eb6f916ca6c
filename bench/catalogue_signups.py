"""Sign-ups to one event stay as fast at the 20,000th registration as at the first (issue
18): through the HTTP API of ONE events process at 50 concurrent connections.

- seats: `signups` residents sign up to an event with that many seats (all confirmed).
  Registrations 1 to 19,000 go in alone; then 19,001-20,000 go in together with the first
  1,000 sign-ups of a fresh event, each on half of the connections, so that both rates are
  measured at the same moment (this shared machine's load moves by a factor of two within
  minutes). Target: the rate over 19,001-20,000 at least 0.8 of the rate over 1-1,000.
  The same event's own first 1,000 against its 18,001-19,000 is reported beside it;
- waiting list: the same with an event of `waitlist_capacity` seats and
  `waitlist_signups` sign-ups, against a fresh event of one seat (both waiting lists);
- zero overbooking, checked in the store afterwards (counters and registrations);
- a trace every 10 s: registrations, outbox entries, the process's memory, the load.

Run: `uv run python bench/catalogue_signups.py [--signups 20000]`.
Results: bench/results/catalogue_signups.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).parent))

from common import write
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

WINDOW = 1000
TARGET = 0.8


async def make_event(http: httpx.AsyncClient, base: str, issuer: TestIssuer, capacity: int) -> str:
    staff = issuer.headers(roles=["staff"], sub="bench-staff", exp_in=7200)
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    body = {
        "kind": "workshop",
        "title": {"fi": "Suosittu työpaja", "en": "A popular workshop"},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "capacity": capacity,
    }
    r = await http.post(f"{base}/events", json=body, headers=staff)
    r.raise_for_status()
    event_id: str = r.json()["id"]
    (await http.post(f"{base}/events/{event_id}/publish", headers=staff)).raise_for_status()
    return event_id


async def sign_ups(
    base: str, issuer: TestIssuer, streams: list[tuple[str, str, int]], concurrency: int
) -> dict[str, list[float]]:
    """Sign-ups to each (event, user tag, count) stream at the same time, each stream on
    its own share of the `concurrency` connections (so a costlier stream falls behind);
    per event, when each answer arrived (seconds from the start), in order."""
    tokens = {
        event_id: [f"Bearer {issuer.token(sub=f'{tag}-{i:06d}', exp_in=7200)}" for i in range(n)]
        for event_id, tag, n in streams
    }  # signed before the clock starts (RSA signing is the client's cost)
    done: dict[str, list[float]] = {event_id: [] for event_id in tokens}
    failed: list[float] = []
    share = max(1, concurrency // len(streams))
    async with client(concurrency) as http:
        began = time.perf_counter()

        def sender(event_id: str) -> Any:
            async def one(token: str) -> httpx.Response:
                r = await http.post(
                    f"{base}/events/{event_id}/registrations",
                    json={},
                    headers={"Authorization": token},
                )
                if r.status_code == 201:
                    done[event_id].append(time.perf_counter() - began)
                else:  # a 409 after a connection retry is counted here too, not hidden
                    failed.append(r.status_code)
                return r

            return one

        await asyncio.gather(*(closed_loop(tokens[e], sender(e), share) for e in tokens))
    return done | {"failed": failed}


def window(done: list[float], first: int, last: int, since: float = 0.0) -> float:
    """Sign-ups per second over the `first`..`last` (1-based) of one event's answers."""
    start = since if first == 1 else done[first - 2]
    return (last - first + 1) / (done[last - 1] - start)


async def path(
    base: str,
    issuer: TestIssuer,
    crowded: str,
    fresh: str,
    total: int,
    concurrency: int,
    tag: str,
) -> dict[str, Any]:
    """`total` sign-ups to `crowded`: all but the last WINDOW alone, then those together
    with the first WINDOW of `fresh`, each on half of the connections, so that both
    windows are measured at the same moment on a machine whose load moves."""
    fill = await sign_ups(base, issuer, [(crowded, f"{tag}a", total - WINDOW)], concurrency)
    pair = await sign_ups(
        base, issuer, [(crowded, f"{tag}b", WINDOW), (fresh, f"{tag}c", WINDOW)], concurrency
    )
    alone = fill[crowded]
    last = window(pair[crowded], 1, WINDOW)
    first = window(pair[fresh], 1, WINDOW)
    n = len(alone)
    return {
        "sign_ups": n + len(pair[crowded]),
        "failed": len(fill["failed"]) + len(pair["failed"]),
        "last_1000_per_s": round(last, 1),
        "fresh_first_1000_per_s_same_time": round(first, 1),
        "ratio_last_vs_first": round(last / first, 3),
        "target_ratio_min": TARGET,
        "sequential": {
            "note": "one event alone: its first 1,000 against 1,000 before the last window,"
            " minutes apart (moves with the machine's load)",
            "first_1000_per_s": round(window(alone, 1, WINDOW), 1),
            "before_last_1000_per_s": round(window(alone, n - WINDOW + 1, n), 1),
            "ratio": round(window(alone, n - WINDOW + 1, n) / window(alone, 1, WINDOW), 3),
            "overall_per_s": round(n / alone[-1], 1),
        },
    }


async def trace(
    db: Any, pid: int, crowded: list[str], into: list[list[float]], every: float = 10.0
) -> None:
    """Every `every` s: seconds, registrations of the crowded events, outbox entries not
    yet deleted, the events process's resident MB and the machine's load."""
    began = time.perf_counter()
    while True:
        regs = await db["registrations"].count_documents({"event_id": {"$in": crowded}})
        outbox = await db["outbox"].estimated_document_count()
        rss = resident_kb(pid) or 0
        into.append(
            [round(time.perf_counter() - began), regs, outbox, rss // 1024, os.getloadavg()[0]]
        )
        await asyncio.sleep(every)


async def stored(mongo: Any, db: Any, event_id: str) -> dict[str, Any]:
    events = db["events"]
    regs = db["registrations"]
    event = await events.find_one({"_id": event_id})
    assert event is not None
    totals: dict[str, dict[str, int]] = {}
    async for row in await regs.aggregate(
        [
            {"$match": {"event_id": event_id}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}, "seats": {"$sum": "$seats"}}},
        ]
    ):
        totals[row["_id"]] = {"registrations": row["n"], "seats": row["seats"]}
    confirmed = totals.get("confirmed", {}).get("seats", 0)
    return {
        "capacity": event["capacity"],
        "seats_taken": event["seats_taken"],
        "waiting": event["waiting"],
        "by_status": totals,
        "overbooked": max(
            0, confirmed - event["capacity"], event["seats_taken"] - event["capacity"]
        ),
        "counters_agree": confirmed == event["seats_taken"]
        and totals.get("waitlisted", {}).get("registrations", 0) == event["waiting"],
    }


async def run(
    *, signups: int = 20_000, waitlist_capacity: int = 500, waitlist_signups: int = 5_000,
    concurrency: int = 50,
) -> dict[str, Any]:  # fmt: skip
    with kept_environment() as env:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            env["mongo_url"], retryWrites=False, tz_aware=True
        )
        db = mongo[f"bench{env['run']}_kohtaamo_events"]
        samples: list[list[float]] = []
        async with issuer_server() as (issuer, jwks_url):
            with service_process("events", service_env(env, issuer, jwks_url)) as (base, pid):
                async with httpx.AsyncClient(timeout=60) as http:
                    crowded = await make_event(http, base, issuer, signups)
                    fresh = await make_event(http, base, issuer, signups)
                    waiting = await make_event(http, base, issuer, waitlist_capacity)
                    fresh_waiting = await make_event(http, base, issuer, 1)
                tracer = asyncio.create_task(trace(db, pid, [crowded, waiting], samples))
                before = machine()
                seats = await path(base, issuer, crowded, fresh, signups, concurrency, "s")
                queue = await path(
                    base, issuer, waiting, fresh_waiting, waitlist_signups, concurrency, "w"
                )
                after = machine()
                tracer.cancel()
        try:
            seats["store"] = await stored(mongo, db, crowded)
            seats["store_fresh"] = await stored(mongo, db, fresh)
            queue["store"] = await stored(mongo, db, waiting)
            queue["store_fresh"] = await stored(mongo, db, fresh_waiting)
        finally:
            await mongo.close()
    return {
        "concurrency": concurrency,
        "one_events_process": True,
        "machine_before": before,
        "machine_after": after,
        "seats": seats,
        "waiting_list": queue,
        "trace_columns": ["s", "registrations", "outbox_entries", "events_rss_mb", "load_1m"],
        "trace": samples,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--signups", type=int, default=20_000)
    parser.add_argument("--waitlist-signups", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            signups=args.signups,
            waitlist_signups=args.waitlist_signups,
            concurrency=args.concurrency,
        )
    )
    write("catalogue_signups", figures)
