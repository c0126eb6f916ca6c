"""Kit delivery benchmarks (issue 2 targets), each against a baseline in the same run:

- consume+inbox: a kit consumer that applies each event with its inbox record, against
  the raw single-insert rate of the same store            (target >= 0.3); the same for
  a batch consumer (`batch=50`: up to 50 events, each with its inbox record and its own
  insert, in one transaction), shown beside it
- consume only: the kit's consume path without database work, against raw aio-pika
  consume with the same prefetch                            (target >= 0.6); messages
  from the producer's broker user (user_id checked), and, shown beside it, signed
  messages without a user_id (what federation brings: the Ed25519 signature verified)
- relay: the outbox relay publishing staged (signed) events, against raw confirmed
  publish, pipelined                                        (target >= 0.5); signing
  happens when events are staged, so the cost of a signature is shown apart
  (`signature_us`: sign and verify, microseconds per event)

The kit's service connects as its own broker user of the run, as on a site.

Each pair runs in 3 alternating rounds; the ratio is the median of the rounds' ratios.

Run: `uv run python bench/kit_delivery.py` (or `make bench`): tracing off, as without
OTEL_* settings. `--tracing`: the same with OpenTelemetry on (kit.tracing), exporting
OTLP/HTTP to a real receiver in a process of its own (`kit.trace_receiver`); the events
carry a trace context as staged ones do; results in `kit_delivery_tracing.json`.
`--tracing --sampled 0.1`: a tenth of the events' traces sampled (the others' context says
not sampled, as behind a gateway with a ratio sampler); `kit_delivery_tracing_sampled.json`.
`--only consume`: just the consume-only pair, five rounds, with the process's CPU time per
message (raw and kit); with `--tracing` also the kit's path untraced in the same process
and minute (`tracing_cpu_us`: what tracing adds); `..._consume.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, write

from contracts import CloudEvent, Payload, register, topology
from kit import tracing
from kit.app import Service
from kit.broker_users import connection_user
from kit.consumer import Delivery
from kit.mongo import Store
from kit.settings import KitSettings
from kit.signatures import EventSigner, SignatureVerifier, Signer, new_key

TYPE = "kohtaamo.benchkit.tick.happened.v1"
N_DB = 600
N_MSG = 5000
N_RELAY = 3000
ROUNDS = 3
BATCH = 50
PAIRS_KEYS = (
    "raw_insert", "kit_inbox", "kit_inbox_batched", "raw_consume", "kit_consume",
    "kit_consume_signed", "raw_publish", "relay", "relay_clean", "kit_consume_untraced",
)  # fmt: skip


@register(TYPE)
class Tick(Payload):
    n: int


KEY = new_key("bench", "1")


def settings(env: dict[str, str], db: str) -> KitSettings:
    return KitSettings(
        service="benchkit",
        amqp_url=env["url:benchkit"],
        broker_user_prefix=env["user_prefix"],
        site="bench",
        event_signing_key=json.dumps(KEY),
        mongo_url=env["mongo_url"],
        mongo_db=db,
        log_level="WARNING",
        log_format="json",
        prefetch=64,
    )


# `--sampled 0.1`: the share of events whose trace is sampled (the rest carry a span
# context whose sampled flag is off, as after a gateway with a ratio sampler).
SAMPLED = float(sys.argv[sys.argv.index("--sampled") + 1]) if "--sampled" in sys.argv else 1.0


def ticks(n: int) -> list[CloudEvent]:
    # With tracing on, each event carries a span context, as one staged in a request does.
    def parent(i: int) -> str | None:
        if not tracing.enabled:
            return None
        flags = "01" if (i % 1000) < SAMPLED * 1000 else "00"
        return f"00-4bf92f3577b34da6a3ce929d0e0e4736-{i + 1:016x}-{flags}"

    return [
        CloudEvent(
            source="/kohtaamo/helsinki/benchkit",
            type=TYPE,
            municipality="helsinki",
            data={"n": i},
            traceparent=parent(i),
        )
        for i in range(n)
    ]


def relay_headers(event: CloudEvent) -> dict[str, Any] | None:
    """With tracing on, the AMQP headers the relay adds to what it publishes (its publish
    span, a link for the consumer, and the publish time, the queue wait), so the
    consumer reads them as it does on a site; the raw baseline's messages carry them too."""
    if not tracing.enabled or not event.traceparent:
        return None
    relay = event.traceparent[:36] + f"{int(event.traceparent[36:52], 16) | 1 << 63:016x}" + "-01"
    return {tracing.HEADER_TRACEPARENT: relay, tracing.HEADER_PUBLISHED_MS: tracing.now_ms()}


async def prefill(
    env: dict[str, str], queue: str, events: list[CloudEvent], *, signed: bool = False
) -> None:
    """Straight into a kit queue, through its service's retry exchange (routing key: the
    queue; through the topic exchange every queue still bound to it would get a copy,
    and grow round after round), as the service's broker user (its user_id believed),
    or `signed` without a user_id (as a federation link delivers)."""
    connection = await aio_pika.connect(env["url:benchkit"])
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(topology.retry_exchange("benchkit"))
    user = None if signed else connection_user(env["url:benchkit"])
    signer = Signer(KEY)
    for start in range(0, len(events), 500):
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        signer.seal(e) if signed else e.model_dump_json().encode(),
                        message_id=e.id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        user_id=user,
                        headers=relay_headers(e),
                    ),
                    routing_key=queue,
                )
                for e in events[start : start + 500]
            )
        )
    await connection.close()


async def prefill_raw(env: dict[str, str], queue: str, events: list[CloudEvent]) -> None:
    """The raw baseline's queue, through the default exchange (as the administrator)."""
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel(publisher_confirms=True)
    for start in range(0, len(events), 500):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        e.model_dump_json().encode(),
                        message_id=e.id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        headers=relay_headers(e),
                    ),
                    routing_key=queue,
                )
                for e in events[start : start + 500]
            )
        )
    await connection.close()


async def raw_insert_rate(env: dict[str, str]) -> float:
    store = Store(settings(env, "bench_raw"))
    collection = store.db.raw
    await collection.insert_one({"warm": True})
    started = time.perf_counter()
    for i in range(N_DB):
        await collection.insert_one({"n": i})
    rate = N_DB / (time.perf_counter() - started)
    await store.close()
    return rate


async def kit_consume_rate(
    env: dict[str, str],
    *,
    with_db: bool,
    n: int,
    db: str,
    batch: int = 0,
    signed: bool = False,
    cpu: list[float] | None = None,
) -> float:
    """Messages per second; `cpu` gets the process's CPU time per message (µs, all its
    threads: the exporter's too when tracing is on)."""
    svc = Service("benchkit", settings=settings(env, db))
    done = asyncio.Event()
    count = 0
    first = 0.0  # timed from the first message: service start-up is not the consume path
    first_cpu = 0.0
    purpose = ("batched" if batch else "applied") if with_db else "noop"

    async def apply(delivery: Delivery[Tick]) -> None:
        nonlocal count, first, first_cpu
        if not first:
            first, first_cpu = time.perf_counter(), time.process_time()
        if with_db:
            await svc.store.db.ticks.insert_one(
                {"n": delivery.data.n},
                session=delivery.session,
            )
        count += 1
        if count >= n:
            done.set()

    async def apply_batch(deliveries: list[Delivery[Tick]]) -> None:
        for delivery in deliveries:  # the same work per event as the single handler
            await apply(delivery)

    handle: Any = apply_batch if batch else apply
    svc.consumer(purpose, [TYPE], inbox=with_db, batch=batch)(handle)
    # Declare the queue first (start/stop), fill it, then time a cold drain.
    await svc.start()
    await svc.stop()
    await prefill(env, topology.queue("benchkit", purpose), ticks(n), signed=signed)
    svc = _rebuild(svc, env, db, purpose, with_db, handle, batch)
    await svc.start()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - first
    if cpu is not None:
        cpu.append((time.process_time() - first_cpu) / n * 1e6)
    await svc.stop()
    await _drop_queue(env, topology.queue("benchkit", purpose))
    return n / elapsed


async def _drop_queue(env: dict[str, str], name: str) -> None:
    """A kit queue stays bound to the bench's exchange: later phases' publishes would
    pile up in it (and slow the next round's drain of it)."""
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel()
    await channel.queue_delete(name)
    await connection.close()


def _rebuild(
    old: Service,
    env: dict[str, str],
    db: str,
    purpose: str,
    with_db: bool,
    handle: Any,
    batch: int,
) -> Service:
    svc = Service("benchkit", settings=settings(env, db))
    svc.consumer(purpose, [TYPE], inbox=with_db, batch=batch)(handle)
    # the handler closes over the first service's store: point it at the new one
    old.store = svc.store
    old.inbox = svc.inbox
    return svc


async def raw_consume_rate(env: dict[str, str], n: int, cpu: list[float] | None = None) -> float:
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=64)
    queue = await channel.declare_queue(
        "bench.raw", durable=True, arguments={"x-queue-type": "quorum"}
    )
    await prefill_raw(env, "bench.raw", ticks(n))
    count = 0
    done = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal count
        CloudEvent.model_validate_json(message.body)  # the same parse work as the kit
        await message.ack()
        count += 1
        if count >= n:
            done.set()

    started, started_cpu = time.perf_counter(), time.process_time()
    await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append((time.process_time() - started_cpu) / n * 1e6)
    await connection.close()
    return n / elapsed


async def raw_publish_rate(env: dict[str, str], n: int) -> float:
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(topology.exchange("benchkit"), "topic", durable=True)
    queue = await channel.declare_queue("bench.sink", durable=True)
    await queue.bind(exchange, routing_key="benchkit.#")
    events = ticks(n)
    bodies = [e.model_dump_json().encode() for e in events]
    started = time.perf_counter()
    for start in range(0, n, 500):  # pipelined: a window of confirms in flight
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key="benchkit.tick.happened.v1",
                    mandatory=True,
                )
                for b in bodies[start : start + 500]
            )
        )
    elapsed = time.perf_counter() - started
    await queue.purge()
    await connection.close()
    return n / elapsed


async def relay_rate(env: dict[str, str], n: int, db: str) -> tuple[float, float]:
    svc = Service("benchkit", settings=settings(env, db))
    await svc.start()
    await svc.relay.stop()  # stage everything first, then time the relay alone
    events = ticks(n)
    for start in range(0, n, 500):
        await svc.outbox.stage(None, *events[start : start + 500])
    started = time.perf_counter()
    published = 0
    while published < n:
        published += await svc.relay.publish_pending()
    elapsed = time.perf_counter() - started
    await svc.relay.flush()  # deletions of the published entries trail behind
    clean = time.perf_counter() - started
    await svc.stop()
    connection = await aio_pika.connect(env["amqp_url"])
    channel = await connection.channel()
    await (await channel.declare_queue("bench.sink", passive=True)).purge()
    await connection.close()
    return n / elapsed, n / clean


def signature_cost(n: int = 2000) -> dict[str, float]:
    """Microseconds per event to sign (when staged) and to verify (when consumed)."""
    signer = Signer(KEY)
    verifier = SignatureVerifier(
        [EventSigner(site="bench", municipalities=["helsinki"], jwks={"keys": [signer.jwk]})]
    )
    events = ticks(n)
    started = time.perf_counter()
    bodies = [signer.seal(e) for e in events]
    signing = time.perf_counter() - started
    started = time.perf_counter()
    for body, event in zip(bodies, events, strict=True):
        verifier.verify(json.loads(body), event)
    verifying = time.perf_counter() - started
    return {"sign": round(signing / n * 1e6, 1), "verify": round(verifying / n * 1e6, 1)}


# `--only consume`: just the consume-only pair (raw aio-pika and the kit's consume path),
# more rounds, for a quick look at the consume path's cost (tracing's, say).
ONLY_CONSUME = "--only" in sys.argv and sys.argv[sys.argv.index("--only") + 1] == "consume"


async def main() -> dict[str, Any]:
    rounds_n = 5 if ONLY_CONSUME else ROUNDS
    with environment(services=("benchkit",)) as env:
        # Baselines and kit paths alternate in one run on the same broker and store.
        # Rounds alternate subject and baseline, each a second or two long: single runs
        # moved with the broker's state by a factor of two, the median of rounds far less.
        rounds: dict[str, list[float]] = {k: [] for k in PAIRS_KEYS}
        # Process CPU per message (µs): steadier than rates on a shared machine.
        cpu: dict[str, list[float]] = {
            "raw_consume": [],
            "kit_consume": [],
            "kit_consume_untraced": [],
        }
        for r in range(rounds_n):
            if not ONLY_CONSUME:
                rounds["raw_insert"].append(await raw_insert_rate(env))
                rounds["kit_inbox"].append(
                    await kit_consume_rate(env, with_db=True, n=N_DB, db=f"bench_kit_inbox_{r}")
                )
                rounds["kit_inbox_batched"].append(
                    await kit_consume_rate(
                        env, with_db=True, n=N_DB, db=f"bench_kit_batched_{r}", batch=BATCH
                    )
                )
            rounds["raw_consume"].append(await raw_consume_rate(env, N_MSG, cpu=cpu["raw_consume"]))
            rounds["kit_consume"].append(
                await kit_consume_rate(
                    env, with_db=False, n=N_MSG, db=f"bench_kit_noop_{r}", cpu=cpu["kit_consume"]
                )
            )
            if ONLY_CONSUME:
                if tracing.enabled:
                    # The same path untraced, in the same process and minute: the module
                    # flag is what the consume path tests (the SDK stays loaded).
                    tracing.enabled = False
                    try:
                        rounds["kit_consume_untraced"].append(
                            await kit_consume_rate(
                                env,
                                with_db=False,
                                n=N_MSG,
                                db=f"bench_kit_untraced_{r}",
                                cpu=cpu["kit_consume_untraced"],
                            )
                        )
                    finally:
                        tracing.enabled = True
                continue
            rounds["kit_consume_signed"].append(
                await kit_consume_rate(
                    env, with_db=False, n=N_MSG, db=f"bench_kit_signed_{r}", signed=True
                )
            )
            rounds["raw_publish"].append(await raw_publish_rate(env, N_RELAY))
            relay, relay_clean = await relay_rate(env, N_RELAY, db=f"bench_relay_{r}")
            rounds["relay"].append(relay)
            rounds["relay_clean"].append(relay_clean)

    def ratios(subject: str, baseline: str) -> list[float]:
        return [round(a / b, 3) for a, b in zip(rounds[subject], rounds[baseline], strict=True)]

    consume_only = {
        "kit_per_s": round(statistics.median(rounds["kit_consume"]), 1),
        "baseline_raw_aiopika_per_s": round(statistics.median(rounds["raw_consume"]), 1),
        "ratio": round(statistics.median(ratios("kit_consume", "raw_consume")), 3),
        "round_ratios": ratios("kit_consume", "raw_consume"),
        "target": 0.6,
        # CPU of the whole process per message, medians of the rounds.
        "kit_cpu_us": round(statistics.median(cpu["kit_consume"]), 1),
        "baseline_raw_cpu_us": round(statistics.median(cpu["raw_consume"]), 1),
        "cpu_ratio": round(
            statistics.median(
                b / a for a, b in zip(cpu["kit_consume"], cpu["raw_consume"], strict=True)
            ),
            3,
        ),
    }
    if ONLY_CONSUME:
        figures: dict[str, Any] = {
            "rounds": rounds_n,
            "tracing": tracing.enabled,
            "consume_only": consume_only,
        }
        if rounds["kit_consume_untraced"]:
            figures["consume_only_untraced"] = {
                "kit_per_s": round(statistics.median(rounds["kit_consume_untraced"]), 1),
                "ratio": round(statistics.median(ratios("kit_consume_untraced", "raw_consume")), 3),
                "round_ratios": ratios("kit_consume_untraced", "raw_consume"),
                "kit_cpu_us": round(statistics.median(cpu["kit_consume_untraced"]), 1),
                # What tracing adds per message, CPU of the whole process (its exporter's too).
                "tracing_cpu_us": round(
                    statistics.median(cpu["kit_consume"])
                    - statistics.median(cpu["kit_consume_untraced"]),
                    1,
                ),
            }
        return figures
    med = {k: statistics.median(v) for k, v in rounds.items() if v}  # untraced: --only
    figures = {
        "rounds": ROUNDS,
        "tracing": tracing.enabled,
        "consume_with_inbox": {
            "kit_per_s": round(med["kit_inbox"], 1),
            "baseline_raw_insert_per_s": round(med["raw_insert"], 1),
            "ratio": round(statistics.median(ratios("kit_inbox", "raw_insert")), 3),
            "round_ratios": ratios("kit_inbox", "raw_insert"),
            "target": 0.3,
        },
        "consume_with_inbox_batched": {
            "batch": BATCH,
            "kit_per_s": round(med["kit_inbox_batched"], 1),
            "baseline_raw_insert_per_s": round(med["raw_insert"], 1),
            "ratio": round(statistics.median(ratios("kit_inbox_batched", "raw_insert")), 3),
            "round_ratios": ratios("kit_inbox_batched", "raw_insert"),
            "target": 0.3,
        },
        "consume_only": consume_only,
        "consume_only_signed": {
            "kit_per_s": round(med["kit_consume_signed"], 1),
            "baseline_raw_aiopika_per_s": round(med["raw_consume"], 1),
            "ratio": round(statistics.median(ratios("kit_consume_signed", "raw_consume")), 3),
            "round_ratios": ratios("kit_consume_signed", "raw_consume"),
            "target": 0.6,
        },
        "signature_us": signature_cost(),
        "outbox_relay": {
            "relay_per_s": round(med["relay"], 1),
            # publish throughput is the figure; deleting published entries trails behind
            "until_outbox_empty_per_s": round(med["relay_clean"], 1),
            "baseline_raw_confirmed_publish_per_s": round(med["raw_publish"], 1),
            "ratio": round(statistics.median(ratios("relay", "raw_publish")), 3),
            "round_ratios": ratios("relay", "raw_publish"),
            "target": 0.5,
        },
    }
    return figures


def traced(run: Any) -> dict[str, Any]:
    """`run()` with tracing on, exporting to a receiver process of its own."""
    receiver = subprocess.Popen(
        [sys.executable, "-m", "kit.trace_receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdin is not None and receiver.stdout is not None
    try:
        port = receiver.stdout.readline().strip()
        os.environ.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_BSP_SCHEDULE_DELAY": "500",
            }
        )
        assert tracing.setup("benchkit", site="bench")
        figures: dict[str, Any] = run()
        figures["sampled"] = SAMPLED
        tracing.flush()
        receiver.stdin.close()
        spans, requests = receiver.stdout.readline().split()
        figures["spans_received"] = int(spans)
        figures["export_requests"] = int(requests)
        return figures
    finally:
        receiver.kill()
        receiver.wait()


if __name__ == "__main__":
    suffix = "_consume" if ONLY_CONSUME else ""
    if "--tracing" in sys.argv:
        name = "kit_delivery_tracing" + ("_sampled" if SAMPLED < 1 else "") + suffix
        write(name, traced(lambda: asyncio.run(main())))
    else:
        write("kit_delivery" + suffix, asyncio.run(main()))
