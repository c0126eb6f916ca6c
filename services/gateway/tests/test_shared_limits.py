"""Limits shared through Redis: two gateway processes count against one limit; while Redis
is gone a gateway counts by itself (limits still hold, never a 5xx) and says so in /readyz."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kit import localstore


async def test_two_gateways_share_one_limit(
    echoes: dict[str, Any],
    spawn_gateways: Callable[[int, dict[str, str]], list[str]],
    redis_url: str,
    redis_prefix: str,
) -> None:
    env = {
        "KOHTAAMO_UPSTREAMS__EVENTS": echoes["events"].url,
        "KOHTAAMO_RATE_LIMIT_STORAGE": redis_url,
        "KOHTAAMO_RATE_LIMIT_PREFIX": f"{redis_prefix}-{uuid.uuid4().hex[:6]}",
        "KOHTAAMO_RATE_LIMIT_CLIENT": "4/minute",
    }
    first, second = spawn_gateways(2, env)
    async with httpx.AsyncClient(timeout=10) as client:
        statuses = []
        for n in range(4):  # alternately: each gateway sees only two of them
            answer = await client.get((first if n % 2 else second) + "/api/v1/events")
            statuses.append(answer.status_code)
        assert statuses == [200] * 4
        # The fifth from the same address is refused by either gateway.
        for url in (first, second):
            refused = await client.get(url + "/api/v1/events")
            assert refused.status_code == 429 and refused.json()["scope"] == "client address"
        ready = (await client.get(first + "/readyz")).json()
        assert ready["checks"]["rate_limits"] == {"ok": True, "storage": "redis"}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this test's own, to be stopped under load."""
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (make test installs it)"
    port = localstore.free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    yield process, f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait(10)


async def test_redis_outage_counts_in_process(
    make_gateway: Any,
    echoes: dict[str, Any],
    private_redis: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = private_redis
    async with make_gateway(
        {"events": echoes["events"].url},
        rate_limit_client="3/minute",
        rate_limit_storage=url,
        rate_limit_storage_timeout_s=0.3,
    ) as (client, _):
        assert (await client.get("/api/v1/events")).status_code == 200
        assert (await client.get("/readyz")).json()["checks"]["rate_limits"]["storage"] == "redis"
        process.kill()
        process.wait(10)
        # No 5xx: the gateway counts by itself, and still refuses past the limit.
        statuses = [(await client.get("/api/v1/events")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["rate_limits"]["degraded"] == "counting in this process"
