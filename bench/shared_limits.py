"""What sharing the gateway's rate limits in Redis costs per request: the kit's Limiter
counting N hits (concurrency C, 100 client keys) in a private redis-server, against the
same Limiter counting in process memory (one replica's limits), in the same run.

    uv run python bench/shared_limits.py [N] [C]
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from common import percentiles, write
from limits import parse

from kit import localstore
from kit.ratelimit import Limiter

ITEM = parse("1000000/minute")  # never full: the cost of counting, not of refusing


async def measure(limiter: Limiter, n: int, concurrency: int) -> dict[str, Any]:
    samples: list[float] = []
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            assert await limiter.hit(ITEM, "client address", f"198.51.100.{i % 100}")
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"hits_per_s": round(n / elapsed), **percentiles(samples)}


async def compare(redis_url: str, n: int, concurrency: int) -> dict[str, Any]:
    shared = Limiter(redis_url, prefix="bench")
    memory = Limiter("memory://")
    await measure(shared, 200, concurrency)  # connections opened, scripts loaded
    baseline = await measure(memory, n, concurrency)
    figures = await measure(shared, n, concurrency)
    assert (await shared.status())["storage"] == "redis"
    return {
        "hits": n,
        "concurrency": concurrency,
        "memory": baseline,
        "redis": figures,
        # Throughput of one process counting in Redis, as a share of counting in memory.
        "ratio_redis_throughput": round(figures["hits_per_s"] / baseline["hits_per_s"], 3),
    }


def main(n: int, concurrency: int) -> None:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (make test installs it)")
    port = localstore.free_port()
    with tempfile.TemporaryDirectory() as data:
        redis = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", data],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            figures = asyncio.run(compare(f"redis://127.0.0.1:{port}/0", n, concurrency))
        finally:
            redis.terminate()
            redis.wait(10)
    write("shared_limits", figures)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [5000, 32][len(args) :]))
