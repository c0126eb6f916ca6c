"""The database unreachable for a while: requests fail fast with 503 problem+json, the
readiness probe says so, and the service recovers by itself when the store returns."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from kit import localstore
from kit.testing import service_env

APPS = Path(__file__).parents[1] / "apps"


async def test_store_outage_gives_503_then_recovers(
    make_settings: Callable[..., Any], make_vhost: Callable[..., str], tmp_path: Path
) -> None:
    data, port = tmp_path / "store", localstore.free_port()
    store = await asyncio.to_thread(localstore.start_store, data_dir=data, port=port)
    settings = make_settings(
        "pingsvc",
        mongo_url=localstore.store_url(port),
        amqp_url=make_vhost("pingsvc-store", "function"),
    )
    http_port = localstore.free_port()
    # The same queue arguments as every other process of the run (service_env).
    env = {
        **os.environ,
        **service_env(
            settings,
            PYTHONPATH=str(APPS),
            KOHTAAMO_MONGO_URL=localstore.store_url(port),
            KOHTAAMO_MONGO_TIMEOUT_MS="1500",
        ),
    }
    with (tmp_path / "service.log").open("wb") as log:
        service = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kit.cli",
            "run",
            "pingservice:build",
            "--port",
            str(http_port),
            env=env,
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{http_port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await _until(client, "/readyz", 200)
            assert (await client.post("/pings", json={"text": "before"})).status_code == 202

            await asyncio.to_thread(localstore.stop_store, store)
            started = time.monotonic()
            response = await client.post("/pings", json={"text": "during"})
            failed_after = time.monotonic() - started
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["Retry-After"]
            assert "database" in response.json()["detail"]
            # Fails fast: the store timeout (1.5 s) and not a hang (generous bound for a
            # loaded machine; the point is that the request returns at all).
            assert failed_after < 20
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["store"]["ok"]

            store = await asyncio.to_thread(localstore.start_store, data_dir=data, port=port)
            await _until(client, "/readyz", 200)
            response = await client.post("/pings", json={"text": "after"})
            assert response.status_code == 202
    finally:
        service.terminate()
        await service.wait()
        await asyncio.to_thread(localstore.stop_store, store)


async def _until(client: httpx.AsyncClient, path: str, status: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await client.get(path)
            if last.status_code == status:
                return
        except httpx.HTTPError as exc:
            last = exc
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never answered {status}: {last}")
