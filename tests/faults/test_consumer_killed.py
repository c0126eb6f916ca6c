"""A consumer process killed with SIGKILL mid-stream: the messages it had not acked are
redelivered to its successor and every event is applied exactly once.

The first process stops at tick HOLD (faultapp's hold: it records what it holds and waits
inside the open transaction), so the kill lands mid-stream however fast or slow the
machine is: ticks before HOLD committed, the held ones applied but not committed, the
rest still queued or prefetched."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultapp import HOLD_FROM, TICK

from kit.bus import Bus
from kit.localstore import free_port
from kit.mongo import Store
from kit.testing import envelope, eventually, service_env

N = 150 * int(os.environ.get("KOHTAAMO_FAULT_SCALE", "1"))
HOLD = N // 3
APPS = Path(__file__).parents[1] / "apps"


async def start_consumer(
    settings: Any, log: Path, app: str, *, hold: bool = False
) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if k != HOLD_FROM},
        **({HOLD_FROM: str(HOLD)} if hold else {}),
        **service_env(
            settings,
            PYTHONPATH=str(APPS),
            KOHTAAMO_MONGO_DB=settings.database_name(),
            KOHTAAMO_PREFETCH="20",
        ),
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kit.cli",
            "run",
            f"faultapp:{app}",
            "--port",
            str(free_port()),
            env=env,
            stdout=out,
            stderr=out,
        )


# A batch consumer holds up to a prefetch of messages unacked, some of them applied in a
# transaction not yet acked: all must come back, and the inbox drop what was applied.
# The kill usually leaves a transaction open in the store, holding the inbox records of
# the messages it was applying: the store aborts it after its transaction lifetime (60 s,
# as mongod), and only then can the successor apply those messages. Both variants run side
# by side, so the suite waits that out once.
async def test_sigkill_mid_stream_applies_each_event_once(
    make_settings: Callable[..., Any],
    make_vhost: Callable[..., str],
    tmp_path: Path,
) -> None:
    apps = ("build_consumer", "build_batch_consumer")
    for app in apps:
        (tmp_path / app).mkdir()
    outcomes = await asyncio.gather(
        *(_kill_mid_stream(make_settings, make_vhost, tmp_path / app, app) for app in apps),
        return_exceptions=True,  # both finish (and stop their processes) before failing
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def _kill_mid_stream(
    make_settings: Callable[..., Any],
    make_vhost: Callable[..., str],
    tmp_path: Path,
    app: str,
) -> None:
    # A vhost each: the other variant's queue, bound to the same ticks, would take them.
    settings = make_settings("faultcons", amqp_url=make_vhost(f"killed-{app}", "function"))
    store = Store(settings)
    applied = store.db.applied
    held = store.db.held
    first = await start_consumer(settings, tmp_path / "consumer-1.log", app, hold=True)
    second = None
    try:
        # The ticks' producer, as its own broker user.
        bus = Bus(make_settings("faultprod", amqp_url=settings.amqp_url))
        await bus.connect()

        async def queue_ready() -> bool:
            try:
                await bus.publish_event(envelope(TICK, {"n": -1}))
                return True
            except Exception:
                return False  # the consumer has not declared its queue yet

        await eventually(queue_ready, timeout=120)
        for i in range(N):
            await bus.publish_event(envelope(TICK, {"n": i}))
        await bus.stop()

        # The first process reaches HOLD and holds it: mid-stream by construction.
        async def holding() -> bool:
            return await held.count_documents({"n": HOLD}) > 0

        await eventually(holding, timeout=120)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed_at = await applied.count_documents({})
        held_ticks = sorted(await held.distinct("n"))
        # What it held was applied in its transaction but never committed, so never acked.
        assert await applied.count_documents({"n": {"$in": held_ticks}}) == 0, app
        # Up to a prefetch (20) of ticks before HOLD may be in flight too, not more.
        assert HOLD - 20 < killed_at < N + 1, (app, killed_at)

        second = await start_consumer(settings, tmp_path / "consumer-2.log", app)
        await eventually(lambda: _at_least(applied, N + 1), timeout=180)
        await asyncio.sleep(1)  # a doubly applied redelivery would show now
        assert await applied.count_documents({}) == N + 1, app
        assert sorted(await applied.distinct("n")) == list(range(-1, N)), app
        assert len(await applied.distinct("event_id")) == N + 1, app
        # The held messages came back and the successor applied them; both processes did work.
        pids = {doc["n"]: doc["pid"] for doc in await applied.find().to_list(None)}
        assert {pids[n] for n in held_ticks} == {second.pid}, app
        assert first.pid in set(pids.values()), app
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
        await store.close()


async def _at_least(collection: Any, n: int) -> bool:
    return await collection.count_documents({}) >= n
