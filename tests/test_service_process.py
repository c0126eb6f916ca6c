"""A minimal service process built with the kit's app factory: starts, answers /readyz,
publishes a real event that a test consumer receives from RabbitMQ, and carries the
correlation id from the HTTP header into the event and into every log line of the chain."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from kit import localstore
from kit.testing import drain, service_env

APPS = Path(__file__).parent / "apps"


@pytest.fixture
def pingservice(
    make_settings: Callable[..., Any], make_vhost: Callable[..., str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    # Its own vhost: other suites run the same test service with other queue arguments.
    vhost_url = make_vhost("pingsvc-process", "function")  # the administrator's, for the observer
    settings = make_settings("pingsvc", amqp_url=vhost_url)
    port = localstore.free_port()
    env = {**os.environ, **service_env(settings, PYTHONPATH=str(APPS))}
    log_path = tmp_path / "pingsvc.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kit.cli", "run", "pingservice:build", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield {
                "url": f"http://127.0.0.1:{port}",
                "log": log_path,
                "process": process,
                "amqp_url": vhost_url,
            }
        finally:
            process.terminate()
            process.wait(20)


def wait_ready(url: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            last = response.json()
            if response.status_code == 200:
                answer: dict[str, Any] = last
                return answer
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"service not ready: {last}")


async def test_service_process_ready_publishes_and_correlates(pingservice: dict[str, Any]) -> None:
    ready = wait_ready(pingservice["url"])
    assert ready["checks"]["store"]["ok"] and ready["checks"]["broker"]["ok"]
    # Its own consumer and the kit's token revocations, which every service has.
    assert ready["checks"]["consumers"]["attached"] == {
        "kohtaamo.pingsvc.echo": 1,
        "kohtaamo.pingsvc.identity-revocations": 1,
    }

    connection = await aio_pika.connect_robust(pingservice["amqp_url"])
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind("kohtaamo.pingsvc.events", routing_key="pingsvc.#")

        async with httpx.AsyncClient(base_url=pingservice["url"]) as client:
            response = await client.post(
                "/pings", json={"text": "hei"}, headers={"X-Correlation-ID": "corr-process-1"}
            )
            assert response.status_code == 202
            assert response.headers["X-Correlation-ID"] == "corr-process-1"
            [got] = await drain(queue, 1)
            assert got["body"]["type"] == "kohtaamo.pingsvc.ping.sent.v1"
            assert got["body"]["data"] == {"text": "hei"}
            assert got["body"]["correlationid"] == "corr-process-1"
            assert got["id"] == response.json()["id"]

            bad = await client.post("/pings", json={"txt": "typo"})
            assert bad.status_code == 422
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["errors"][0]["field"] == "text"
            generated = bad.headers["X-Correlation-ID"]
            assert generated and generated != "corr-process-1"
            metrics = await client.get("/metrics")
            assert "kohtaamo_messages_published_total" in metrics.text
    finally:
        await connection.close()

    # The consumer in the same process logs with the same correlation id and the event's ids.
    deadline = time.monotonic() + 10
    received: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not received:
        lines = [
            json.loads(x) for x in pingservice["log"].read_text().splitlines() if x.startswith("{")
        ]
        received = [x for x in lines if x.get("event") == "ping.received"]
        await asyncio.sleep(0.2)
    assert received, "consumer did not log"
    line = received[0]
    assert line["correlation_id"] == "corr-process-1"
    assert line["service"] == "pingsvc" and line["municipality"] == "helsinki"
    assert line["event_type"] == "kohtaamo.pingsvc.ping.sent.v1" and line["event_id"] == got["id"]
    accepted = [x for x in lines if x.get("event") == "ping.accepted"]
    assert accepted[0]["correlation_id"] == "corr-process-1"
    assert accepted[0]["municipality"] == "helsinki" and accepted[0]["service"] == "pingsvc"
