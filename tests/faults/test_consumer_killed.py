"""A consumer process killed with SIGKILL mid-stream: the messages it had not acked are
redelivered to its successor and every event is applied exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultapp import TICK

from kit.bus import Bus
from kit.localstore import free_port
from kit.mongo import Store
from kit.testing import envelope, eventually, service_env

N = 150 * int(os.environ.get("KOHTAAMO_FAULT_SCALE", "1"))
APPS = Path(__file__).parents[1] / "apps"


async def start_consumer(settings: Any, log: Path, app: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
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
    make_vhost: Callable[[str], str],
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
    make_vhost: Callable[[str], str],
    tmp_path: Path,
    app: str,
) -> None:
    # A vhost each: the other variant's queue, bound to the same ticks, would take them.
    settings = make_settings("faultcons", amqp_url=make_vhost(f"killed-{app}"))
    store = Store(settings)
    applied = store.db.applied
    first = await start_consumer(settings, tmp_path / "consumer-1.log", app)
    second = None
    try:
        bus = Bus(settings)
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

        await eventually(lambda: _at_least(applied, N // 3), timeout=120)
        first.send_signal(signal.SIGKILL)  # mid-stream, with up to 20 messages unacked
        await first.wait()
        killed_at = await applied.count_documents({})
        assert killed_at < N + 1, f"{app}: the kill came too late to prove anything"

        second = await start_consumer(settings, tmp_path / "consumer-2.log", app)
        await eventually(lambda: _at_least(applied, N + 1), timeout=180)
        await asyncio.sleep(1)  # a doubly applied redelivery would show now
        assert await applied.count_documents({}) == N + 1, app
        assert sorted(await applied.distinct("n")) == list(range(-1, N)), app
        assert len(await applied.distinct("event_id")) == N + 1, app
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
        await store.close()


async def _at_least(collection: Any, n: int) -> bool:
    return await collection.count_documents({}) >= n
