"""City-scale public reads (issue 18): the data of one city loaded through the events
service's HTTP API (50 places, 200 topics, public events over a year, fi/sv/en names,
2-4 topics each), then closed-loop HTTP load at 50 connections against ONE events process:
list 50 upcoming, a filtered list (dates + topic), one event. Baseline: the same process's
/healthz under the same load in the same run (rounds interleaved). Also: the loading rate
and CPU time per event of the bulk import (POST /events/import) and of 1,000 single creates
+ publishes at the start and at each size (or, with `--path single`, of every event
created and published), and the events process's resident memory at each size.

    uv run python bench/catalogue.py [--sizes 10000,100000] [--seconds 8] [--rounds 3]
        [--path import|single]

The sign-up and availability sections (bench/catalogue_signups.py and
bench/catalogue_availability.py, each an async `run()` returning its figures) are run
after these when present and written into the same result."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, percentiles, write
from serving import (
    cpu_seconds,
    issuer_server,
    machine,
    raw_load,
    resident_kb,
    service_env,
    service_process,
)

CONNECTIONS = 50
LOADERS = 48  # events created and published at once while loading
IMPORT_BATCH, IMPORTERS = 500, 2  # events per bulk import request; requests at a time
PLACES, TOPICS = 50, 200
KINDS = ["workshop", "course", "meetup", "peer_session"]
TARGETS = {"list": 0.03, "filtered": 0.03, "one": 0.1}
P99_MS = 400
MEMORY_MB = {10_000: 200, 100_000: 500}
SECTIONS = ("catalogue_signups", "catalogue_availability")
WINDOW = 1000  # events: the loading's first and last windows compared
LOADING_RATE_TARGET = 0.8  # the last window's rate at least this of the first's
LOADING_CPU_TARGET_MAX = 1.25  # CPU time per event of the last window, of the first's
HELSINKI = ZoneInfo("Europe/Helsinki")


# -- loading through the API -------------------------------------------------------------


class Progress:
    """Marks taken as the n-th event of the whole loading is published: the time, the
    machine's load and the CPU time the events process and the store have used so far. A
    window of the loading (events a to b) is measured between two marks: its rate, and
    its CPU time per event, which the load other processes put on the machine does not
    inflate (the rate follows that load; the CPU cost follows the code)."""

    def __init__(self, pids: dict[str, int], marks: set[int]) -> None:
        self.pids = pids
        self.marks = marks
        self.done = 0
        self.seen: dict[int, dict[str, Any]] = {}
        self.mark(0)

    def cpu(self) -> dict[str, float | None]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def mark(self, n: int) -> None:
        self.seen[n] = {"t": time.perf_counter(), "load": round(os.getloadavg()[0], 1),
                        "cpu": self.cpu()}  # fmt: skip

    def completed(self) -> None:
        self.done += 1
        if self.done in self.marks:
            self.mark(self.done)

    def window(self, first: int, last: int) -> dict[str, Any]:
        """Events first..last (counted from 1)."""
        a, b = self.seen[first - 1], self.seen[last]
        n = last - first + 1
        cpu = {
            name: None if a["cpu"][name] is None or b["cpu"][name] is None
            else round((b["cpu"][name] - a["cpu"][name]) / n * 1000, 2)
            for name in self.pids
        }  # fmt: skip
        return {
            "events": f"{first}-{last}",
            "events_per_s": round(n / (b["t"] - a["t"]), 1),
            "load_avg": [a["load"], b["load"]],
            "cpu_ms_per_event": cpu,
        }

    def compare(self, size: int) -> dict[str, Any]:
        """The last WINDOW events up to `size` against the first WINDOW of the loading."""
        first, last = self.window(1, WINDOW), self.window(size - WINDOW + 1, size)
        cpu: dict[str, Any] = {}
        for name in self.pids:
            was, now = first["cpu_ms_per_event"][name], last["cpu_ms_per_event"][name]
            if was and now is not None:
                cpu[name] = {
                    "ratio": round(now / was, 3),
                    "target_ratio_max": LOADING_CPU_TARGET_MAX,
                }
        return {
            "first": first,
            "last": last,
            "rate": {
                "ratio": round(last["events_per_s"] / first["events_per_s"], 3),
                "target": LOADING_RATE_TARGET,
            },
            "cpu_per_event": cpu,
        }


def event_body(
    rng: random.Random, today: datetime, venues: list[str], seed: int, n: int
) -> dict[str, Any]:
    """One event of the city's data (a create's body; an import's item without source)."""
    starts = today + timedelta(days=rng.randrange(1, 366), hours=rng.randrange(8, 20))
    topics = rng.sample(range(TOPICS), rng.randint(2, 4))
    return {
        "kind": rng.choice(KINDS),
        "title": {"fi": f"Tapahtuma {seed}-{n}", "sv": f"Evenemang {seed}-{n}",
                  "en": f"Event {seed}-{n}"},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=rng.choice([1, 2, 3]))).isoformat(),
        "venue_id": rng.choice(venues),
        "topics": [{"skill": f"aihe {t:03d}"} for t in topics],
        "languages": ["fi", "sv", "en"],
        "capacity": rng.choice([None, 20, 50, 100]),
    }  # fmt: skip


async def load(
    http: httpx.AsyncClient, base: str, staff: dict[str, str], venues: list[str], count: int,
    seed: int, progress: Progress,
) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """`count` published events, each created and published (two requests), LOADERS at a
    time; the time of each create + publish."""
    rng = random.Random(seed)
    today = datetime.now(HELSINKI).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    ids: list[str] = []
    took: list[float] = []
    queue = iter(range(count))

    async def one(n: int) -> None:
        body = event_body(rng, today, venues, seed, n)
        began = time.perf_counter()
        r = await post(http, f"{base}/events", json=body, headers=staff)
        r.raise_for_status()
        event_id = r.json()["id"]
        r = await post(http, f"{base}/events/{event_id}/publish", headers=staff)
        if r.status_code != 409:  # 409: a retry after the first try went through
            r.raise_for_status()
        took.append(time.perf_counter() - began)
        ids.append(event_id)
        progress.completed()
        if len(ids) % 5000 == 0:
            print(f"  {len(ids)} of {count} loaded, {time.strftime('%H:%M:%S')}", flush=True)

    async def worker() -> None:
        for n in queue:
            await one(n)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(LOADERS)))
    seconds = time.perf_counter() - began
    edge = max(1, min(1000, count // 10))
    figures = {
        "path": "create + publish (POST /events, POST /events/{id}/publish)",
        "events": count,
        "seconds": round(seconds, 1),
        "events_per_s": round(count / seconds, 1),
        "create_publish_first": percentiles(took[:edge]),
        "create_publish_last": percentiles(took[-edge:]),
    }
    return ids, figures


async def bulk(
    http: httpx.AsyncClient, base: str, staff: dict[str, str], venues: list[str], count: int,
    seed: int, progress: Progress,
) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """`count` published events through the bulk import (POST /events/import), IMPORT_BATCH
    per request, IMPORTERS requests at a time. Each event has a source id, so a request
    sent again after a lost answer creates nothing twice."""
    rng = random.Random(seed)
    today = datetime.now(HELSINKI).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    ids: list[str] = []
    took: list[float] = []
    batches = iter(range(0, count, IMPORT_BATCH))
    cpu = progress.cpu()

    async def worker() -> None:
        for first in batches:
            items = [
                {**event_body(rng, today, venues, seed, n), "source_id": f"bench:{seed}:{n}"}
                for n in range(first, min(count, first + IMPORT_BATCH))
            ]
            began = time.perf_counter()
            r = await post(http, f"{base}/events/import", json={"events": items}, headers=staff)
            r.raise_for_status()
            took.append(time.perf_counter() - began)
            answer = r.json()
            ids.extend(c["id"] for c in answer["created"])
            ids.extend(answer["existing"])
            for _ in items:
                progress.completed()
            if len(ids) // 5000 != (len(ids) - len(items)) // 5000:
                print(f"  {len(ids)} of {count} imported, {time.strftime('%H:%M:%S')}", flush=True)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IMPORTERS)))
    seconds = time.perf_counter() - began
    spent = progress.cpu()
    cpu_ms = {
        name: None if was is None or spent[name] is None
        else round((spent[name] - was) / count * 1000, 2)  # type: ignore[operator]  # None excluded above
        for name, was in cpu.items()
    }  # fmt: skip
    return ids, {
        "path": f"bulk import (POST /events/import, {IMPORT_BATCH} a request, "
        f"{IMPORTERS} at a time)",
        "events": count,
        "seconds": round(seconds, 1),
        "events_per_s": round(count / seconds, 1),
        "cpu_ms_per_event": cpu_ms,
        "request": percentiles(took),
        "load_avg": list(os.getloadavg()),
    }


async def post(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """A POST, sent again when a kept-alive connection was closed under it (the server
    closes connections idle for 5 s; a stalled machine leaves some that long)."""
    for attempt in range(3):
        try:
            return await http.post(url, **kwargs)
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def loader() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=LOADERS, max_keepalive_connections=LOADERS)
    return httpx.AsyncClient(timeout=120, limits=limits)


async def places(http: httpx.AsyncClient, base: str, staff: dict[str, str]) -> list[str]:
    ids = []
    for n in range(PLACES):
        body = {"kind": "library", "name": {"fi": f"Paikka {n}", "sv": f"Plats {n}",
                                            "en": f"Place {n}"}}  # fmt: skip
        r = await http.post(f"{base}/venues", json=body, headers=staff)
        r.raise_for_status()
        ids.append(r.json()["id"])
    return ids


# -- closed-loop load --------------------------------------------------------------------


async def hammer(base: str, paths: list[str], seconds: float) -> dict[str, Any]:
    """CONNECTIONS keep-alive HTTP/1.1 connections, each sending its next GET as soon as
    the last answer is read (serving.raw_load: httpx would be the bottleneck of /healthz)."""
    rate, latencies, errors = await raw_load(
        base, [(path, "") for path in paths], seconds, CONNECTIONS
    )
    return {
        "requests": len(latencies),
        "req_per_s": round(rate, 1),
        "errors": errors,
        **percentiles(latencies),
    }


def requests(ids: list[str], seed: int) -> dict[str, list[str]]:
    """The paths of each kind of request (varied, so no answer is the same every time)."""
    rng = random.Random(seed)
    now = datetime.now(HELSINKI).replace(tzinfo=None, microsecond=0)
    filtered = []
    for _ in range(50):
        first = now + timedelta(days=rng.randrange(0, 250))
        last = first + timedelta(days=90)
        filtered.append(
            f"/events?municipality=helsinki&from={first.isoformat()}&to={last.isoformat()}"
            f"&topic=aihe%20{rng.randrange(TOPICS):03d}&limit=50"
        )
    return {
        "healthz": ["/healthz"],
        "list": [f"/events?municipality=helsinki&from={now.isoformat()}&limit=50"],
        "filtered": filtered,
        "one": [f"/events/{i}" for i in rng.sample(ids, min(500, len(ids)))],
    }


async def settle(mongo_url: str, database: str, pid: int, limit_s: float = 600) -> dict[str, Any]:
    """Wait until what the loading left behind is done (its messages published from the
    outbox, the process idle: under 10% of a core over 2 s), so the reads are measured
    on the process alone; how long that took."""
    from pymongo import AsyncMongoClient

    began = time.perf_counter()
    pending = None
    client: AsyncMongoClient[dict[str, Any]]
    async with AsyncMongoClient(mongo_url) as client:
        while time.perf_counter() - began < limit_s:
            pending = await client[database]["outbox"].count_documents({})
            was = cpu_seconds(pid)
            await asyncio.sleep(2)
            now = cpu_seconds(pid)
            if pending == 0 and (was is None or now is None or now - was < 0.2):
                break
    return {"seconds": round(time.perf_counter() - began, 1), "outbox_pending": pending}


async def measure(
    base: str, ids: list[str], seconds: float, rounds: int, pid: int
) -> dict[str, Any]:
    """Each kind of request in `rounds` interleaved rounds: the median round's figures, and
    the events process's CPU time per request (which the machine's load does not set)."""
    paths = requests(ids, len(ids))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
    for _ in range(rounds):  # interleaved: the machine's load swings between them alike
        for name, those in paths.items():
            was = cpu_seconds(pid)
            run = await hammer(base, those, seconds)
            now = cpu_seconds(pid)
            if was is not None and now is not None and run["requests"]:
                run["cpu_ms_per_request"] = round((now - was) / run["requests"] * 1000, 3)
            runs[name].append(run)
    figures: dict[str, Any] = {}
    for name, done in runs.items():
        best = sorted(done, key=lambda r: r["req_per_s"])[len(done) // 2]  # the median
        figures[name] = {**best, "rounds_req_per_s": [r["req_per_s"] for r in done]}
    base_rate = figures["healthz"]["req_per_s"]
    for name, target in TARGETS.items():
        figures[name]["ratio"] = round(figures[name]["req_per_s"] / base_rate, 4)
        figures[name]["target"] = target
        figures[name]["p99_under_400ms"] = figures[name]["p99_ms"] < P99_MS
    return figures


def summary(size: int, figures: dict[str, Any]) -> str:
    """One line per request: what the targets are judged on."""
    lines = [
        f"{size} events (load average {figures['machine']['load_avg']}), "
        f"resident {figures['resident_mb']} MB (target < {figures['resident_target_mb']})"
    ]
    for name in ("healthz", *TARGETS):
        f = figures[name]
        ratio = f" ratio {f['ratio']} (target {f['target']})" if name in TARGETS else ""
        lines.append(
            f"  {name:9} {f['req_per_s']:8.1f} req/s  p50 {f['p50_ms']:7.1f} ms  "
            f"p99 {f['p99_ms']:7.1f} ms  CPU {f.get('cpu_ms_per_request', '-')} ms/request{ratio}"
        )
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------------------


async def catalogue(
    sizes: list[int], seconds: float, rounds: int, path: str = "import"
) -> dict[str, Any]:
    result: dict[str, Any] = {"machine_before": machine(), "path": path, "sizes": {}}
    with environment() as env:
        async with issuer_server() as (issuer, jwks_url):
            process_env = service_env(env, issuer, jwks_url)
            database = f"{process_env['KOHTAAMO_MONGO_DB_PREFIX']}kohtaamo_events"
            staff = issuer.headers(roles=["staff"], municipality="helsinki", exp_in=6 * 3600)
            with service_process("events", process_env) as (base, pid):
                pids = {"events": pid}
                if env["store_pid"]:
                    pids["store"] = int(env["store_pid"])
                async with loader() as http:
                    venues = await places(http, base, staff)
                marks = {WINDOW} | {n for s in sizes for n in (s - WINDOW, s)}
                progress = Progress(pids, marks if path == "single" else set())
                ids: list[str] = []

                async def singles(count: int, seed: int) -> dict[str, Any]:
                    """`count` creates + publishes, measured as a window of the loading."""
                    first = progress.done + 1
                    progress.mark(progress.done)
                    async with loader() as http:  # a client per stretch: idle ones are closed
                        more, figures = await load(http, base, staff, venues, count, seed, progress)
                    ids.extend(more)
                    progress.mark(progress.done)
                    return {**figures, "window": progress.window(first, progress.done)}

                for size in sorted(sizes):
                    loading: dict[str, Any] = {}
                    if path == "single":
                        loading = await singles(size - len(ids), size)
                        if size >= 2 * WINDOW:
                            loading["windows"] = progress.compare(size)
                    else:
                        # Creates + publishes at the start (about 0 events) and at the end of
                        # each size, the bulk import in between: the cost of one create at
                        # each size, and the loading of a city's catalogue as it would be moved.
                        if not ids:
                            loading["single_first"] = await singles(WINDOW, size)
                        async with loader() as http:
                            more, loading["import"] = await bulk(
                                http, base, staff, venues, size - WINDOW - len(ids), size,
                                progress,
                            )  # fmt: skip
                        ids += more
                        loading["single_at_size"] = await singles(WINDOW, size + 1)
                    loading["settled"] = await settle(env["mongo_url"], database, pid)
                    figures = await measure(base, ids, seconds, rounds, pid)
                    rss = resident_kb(pid)
                    mb = None if rss is None else round(rss / 1024, 1)
                    result["sizes"][str(size)] = {
                        "loading": loading,
                        **figures,
                        "resident_mb": mb,
                        "resident_target_mb": MEMORY_MB.get(size),
                        "machine": machine(),
                    }
                    write("catalogue", result)  # what is measured so far, if a size is cut
                    print(summary(size, result["sizes"][str(size)]), flush=True)
    if len(sizes) > 1:
        small, large = (result["sizes"][str(s)] for s in (min(sizes), max(sizes)))
        result["scaling"] = {
            name: {
                "ratio": round(large[name]["req_per_s"] / small[name]["req_per_s"], 3),
                "target": 0.8,
            }
            for name in TARGETS
        }
    return result


async def sections() -> dict[str, Any]:
    """The other sections of this benchmark, where their modules are present."""
    found: dict[str, Any] = {}
    for name in SECTIONS:
        if not (Path(__file__).parent / f"{name}.py").exists():
            continue
        module = importlib.import_module(name)
        found[name.removeprefix("catalogue_")] = await module.run()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="events, comma separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="per request and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only-reads", action="store_true", help="without the other sections")
    parser.add_argument(
        "--path",
        choices=["import", "single"],
        default="import",
        help="import: the bulk import, with 1,000 creates + publishes at the start and at the "
        "end of each size; single: every event created and published",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    os.environ.setdefault("PYTHONHASHSEED", "0")
    figures = asyncio.run(catalogue(sizes, args.seconds, args.rounds, args.path))
    if not args.only_reads:
        figures.update(asyncio.run(sections()))
    figures["machine_after"] = machine()
    write("catalogue", figures)


if __name__ == "__main__":
    main()
