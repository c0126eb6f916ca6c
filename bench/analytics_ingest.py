"""Analytics benchmarks (issue 7 targets), each against a baseline in the same run:

- ingest: events per second from the producers' exchanges into facts and projections
  (the analytics service, 6,000 events in its batch transactions), against the raw consume
  rate (aio-pika on a quorum queue, parse + ack) of the same broker measured just before it,
  in five rounds; the median ratio of the rounds                 (target >= 0.3);
  also shown against the store's raw single-insert rate, which bounds any ingest that
  stores each event atomically.
- ESF report time over 100,000 facts (bulk-loaded: facts inserted in bulk, projections
  built by the real projection code on an in-memory stand-in, the ESF counters loaded),
  against a single find-by-id round trip to the same store      (target <= 1 s).

Run: `uv run python bench/analytics_ingest.py`. Results: bench/results/analytics_{esf,ingest}.json
(`python bench/analytics_ingest.py esf` or `... ingest` runs one phase)
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, write

from analytics import facts, projections
from analytics.esf import esf_report
from analytics.main import service
from analytics.periods import parse_period
from analytics.scope import Scope
from analytics.settings import AnalyticsSettings
from contracts import CloudEvent
from contracts import bookings as bk
from contracts import events as evc
from contracts import identity as idc
from contracts.pseudonym import participant_key
from kit.memory_store import MemoryDatabase
from kit.metrics import CONSUMED
from kit.mongo import Store

KEY = "bench-pseudonym-key"
N_RAW = 4000
N_INGEST = 6000  # several batches (of up to 1,000) per consumer: the steady state
ROUNDS = 5  # the baseline swings by a third between rounds on this machine: a median of five
RAW = "bench.raw"
N_FACTS = 100_000
TZ = "Europe/Helsinki"
ESF_PROJECTIONS = [projections.ESF_COUNTS, projections.CONSENTS]
START = datetime(2026, 1, 1, tzinfo=UTC)
GENDERS = ["woman", "man", "non_binary", "not_given"]
AGES = ["under_18", "18_29", "30_54", "55_plus"]
JOBS = ["unemployed", "long_term_unemployed", "inactive", "employed", "not_given"]
EDU = ["isced_0_2", "isced_3_4", "isced_5_8", "not_given"]


def settings(env: dict[str, str], db: str) -> AnalyticsSettings:
    return AnalyticsSettings(  # type: ignore[call-arg]  # the rest from the environment
        amqp_url=env["amqp_url"],
        mongo_url=env["mongo_url"],
        mongo_db=db,
        pseudonym_key=KEY,
        log_level="WARNING",
        log_format="json",
        prefetch=64,
    )


def _ev(type_: str, data: dict[str, Any], m: str, at: datetime) -> CloudEvent:
    service_name = type_.split(".")[1]
    return CloudEvent(
        source=f"/kohtaamo/{m}/{service_name}", type=type_, municipality=m, data=data, time=at
    )


def stream(n: int, people: int, seed: int = 7) -> list[CloudEvent]:
    """A realistic mix: ESF profiles, skills, event attendance, bookings, visits."""
    rng = random.Random(seed)
    out: list[CloudEvent] = []
    for i in range(n):
        uid = f"user-{rng.randrange(people)}"
        m = "helsinki" if rng.random() < 0.7 else "kouvola"
        at = START + timedelta(minutes=rng.randrange(365 * 24 * 60))
        starts = at.isoformat()
        ends = (at + timedelta(hours=2)).isoformat()
        roll = rng.random()
        if roll < 0.12:
            data = {
                "participant": participant_key(uid, KEY),
                "gender": rng.choice(GENDERS),
                "age_band": rng.choice(AGES),
                "employment": rng.choice(JOBS),
                "education": rng.choice(EDU),
                "foreign_background": rng.random() < 0.3,
            }
            out.append(_ev(idc.PARTICIPANT_PROFILE_CHANGED, data, m, at))
        elif roll < 0.15:
            skills = [
                {"skill": rng.choice(["python", "design", "video", "3d"]), "level": "beginner"}
            ]
            out.append(_ev(idc.PROFILE_UPDATED, {"user_id": uid, "skills_offered": skills}, m, at))
        elif roll < 0.80:
            eid = f"ev-{rng.randrange(3000)}"
            data = {
                "event_id": eid,
                "registration_id": f"r-{i}",
                "user_id": uid,
                "kind": "workshop",
                "attended": rng.random() < 0.9,
                "hours": 2.0,
                "starts_at": starts,
            }
            out.append(_ev(evc.ATTENDANCE_RECORDED, data, m, at))
        elif roll < 0.97:
            data = {
                "booking_id": f"b-{i}",
                "resource_id": f"res-{rng.randrange(50)}",
                "resource_kind": "workstation",
                "resource_name": {"fi": "työpiste"},
                "location_id": f"loc-{rng.randrange(5)}",
                "user_id": uid,
                "starts_at": starts,
                "ends_at": ends,
                "checked_in_at": starts,
            }
            out.append(_ev(bk.BOOKING_CHECKED_IN, data, m, at))
        else:
            data = {"event_id": f"pop-{i}", "kind": "avaa_tila", "venue_kind": "park",
                    "visits": rng.randrange(5, 80), "counted_at": starts}  # fmt: skip
            out.append(_ev(evc.VISITS_COUNTED, data, m, at))
    return out


async def publish(env: dict[str, str], events: list[CloudEvent], prefix: str = "kohtaamo") -> None:
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel(publisher_confirms=True)
    exchanges = {}
    for name in ("identity", "events", "bookings"):
        exchanges[name] = await channel.declare_exchange(
            f"{prefix}.{name}.events", "topic", durable=True
        )
    for start in range(0, len(events), 500):
        await asyncio.gather(
            *(
                exchanges[e.producer].publish(
                    aio_pika.Message(
                        e.model_dump_json().encode(),
                        message_id=e.id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=e.routing_key,
                )
                for e in events[start : start + 500]
            )
        )
    await connection.close()


async def raw_consume_rate(env: dict[str, str], events: list[CloudEvent]) -> float:
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=64)
    queue = await channel.declare_queue(
        "bench.analytics.raw", durable=True, arguments={"x-queue-type": "quorum"}
    )
    # Exchanges of its own, like the producers': the analytics queues must not get these.
    for name in ("identity", "events", "bookings"):
        exchange = await channel.declare_exchange(RAW + f".{name}.events", "topic", durable=True)
        await queue.bind(exchange, routing_key="#")
    await publish(env, events, prefix=RAW)
    count, done = 0, asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal count
        CloudEvent.model_validate_json(message.body)  # the same parse work as the kit
        await message.ack()
        count += 1
        if count >= len(events):
            done.set()

    started = time.perf_counter()
    await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    await connection.close()
    return len(events) / elapsed


async def raw_insert_rate(env: dict[str, str], n: int = 600) -> float:
    store = Store(settings(env, "bench_analytics_raw"))
    await store.db.raw.insert_one({"warm": True})
    started = time.perf_counter()
    for i in range(n):
        await store.db.raw.insert_one({"n": i})
    rate = n / (time.perf_counter() - started)
    await store.close()
    return rate


async def ingest_rate(env: dict[str, str], events: list[CloudEvent], db: str) -> float:
    svc = service(settings(env, db))
    await svc.start()  # declares the queues and bindings; then fill them while stopped
    await svc.stop()
    await publish(env, events)
    svc = service(settings(env, db))
    before = _applied()
    await svc.start()
    started = time.perf_counter()
    # Done is read from the kit's consumed counter (raised after each commit), in this
    # process: polling the store with a count read every fact each time, and took a good
    # part of the store's time away from the ingest it measured.
    while _applied() - before < len(events):  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    stored = await svc.store.db.facts.count_documents({})
    await svc.stop()
    if stored != len(events):
        raise RuntimeError(f"{stored} facts stored for {len(events)} events")
    return len(events) / elapsed


def _applied() -> float:
    """Events the analytics consumers have applied and committed so far."""
    return sum(
        sample.value
        for metric in CONSUMED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels.get("service") == "analytics"
        and sample.labels.get("outcome") == "applied"
    )


async def esf_over_facts(env: dict[str, str]) -> dict[str, Any]:
    events = stream(N_FACTS, people=12_000, seed=11)
    docs = [facts.make_fact(e, e.data, KEY) for e in events]
    store = Store(settings(env, "bench_analytics_esf"))
    db = store.db
    started = time.perf_counter()
    for start in range(0, len(docs), 2000):
        await db.facts.insert_many(docs[start : start + 2000], ordered=False)
    facts_load_s = time.perf_counter() - started
    mem = MemoryDatabase()
    for doc in sorted(docs, key=lambda d: (d["at"], d["_id"])):
        # The memory store answers the projections' calls as the store does (by _id).
        await projections.project(mem, doc, None, TZ)  # type: ignore[arg-type]  # memory for Db
    await projections.ensure_indexes(db)
    # Only what the ESF report reads is loaded (the store takes minutes per 100k documents):
    # its counters, which the real projection code built from all 100,000 facts.
    for name in ESF_PROJECTIONS:
        collection = mem[name]
        values = list(collection.docs.values())
        for start in range(0, len(values), 2000):
            await db[name].insert_many(values[start : start + 2000], ordered=False)
    period = parse_period("2026", TZ)
    timings: dict[str, list[float]] = {"helsinki": [], "network": [], "find_one": []}
    participants = {}
    for _ in range(5):
        for scope in ("helsinki", "network"):
            t0 = time.perf_counter()
            report = await esf_report(db, scope=Scope(scope), period=period, threshold=5)
            timings[scope].append(time.perf_counter() - t0)
            participants[scope] = report.table("summary").column("value")["participants"]
        t0 = time.perf_counter()
        await db.facts.find_one({"_id": docs[0]["_id"]})
        timings["find_one"].append(time.perf_counter() - t0)
    people = len(mem[projections.PEOPLE].docs)
    await store.close()
    med = {k: statistics.median(v) for k, v in timings.items()}
    return {
        "facts": await _count(env, "bench_analytics_esf"),
        "facts_bulk_load_s": round(facts_load_s, 2),
        "people_docs": people,
        "participants": participants,
        "esf_report_helsinki_year_s": round(med["helsinki"], 3),
        "esf_report_network_year_s": round(med["network"], 3),
        "baseline_find_one_by_id_s": round(med["find_one"], 4),
        "ratio_network_report_to_find_one": round(med["network"] / med["find_one"], 1),
        "target_s": 1.0,
    }


async def _count(env: dict[str, str], db: str) -> int:
    store = Store(settings(env, db))
    n = await store.db.facts.count_documents({})
    await store.close()
    return n


async def main(phases: list[str]) -> None:
    """`ingest`, `esf` or both (default); each phase writes its own result file."""
    with environment() as env:
        if "esf" in phases:
            write("analytics_esf", {"esf_report": await esf_over_facts(env)})
        if "ingest" in phases:
            # Rounds of baseline then ingest, a ratio per round: the machine's speed drifts
            # by minutes, and a baseline from another minute skews the ratio.
            rounds = []
            for n in range(ROUNDS):
                raw = await raw_consume_rate(env, stream(N_RAW, people=2000, seed=1))
                events = stream(N_INGEST, people=N_INGEST * 5 // 6, seed=2)
                rate = await ingest_rate(env, events, f"bench_analytics_ingest_{n}")
                rounds.append((rate, raw, rate / raw))
            ingest, raw_consume, ratio = (statistics.median(r[i] for r in rounds) for i in range(3))
            raw_insert = await raw_insert_rate(env)
            write(
                "analytics_ingest",
                {
                    "ingest": {
                        "events": N_INGEST,
                        "rounds": [[round(x, 3) for x in r] for r in rounds],
                        "ingest_per_s": round(ingest, 1),
                        "baseline_raw_consume_per_s": round(raw_consume, 1),
                        "ratio": round(ratio, 3),
                        "target": 0.3,
                        "store_raw_single_insert_per_s": round(raw_insert, 1),
                        "ratio_to_store_insert": round(ingest / raw_insert, 3),
                    }
                },
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["esf", "ingest"]))
