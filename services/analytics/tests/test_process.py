"""`kohtaamo run analytics` as its own process: ready, consuming from RabbitMQ into its
facts, and refusing unauthenticated report requests."""

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

import httpx
import pytest
from analytics_stream import E1, KEY, attend
from pymongo import AsyncMongoClient

from analytics.settings import AnalyticsSettings
from kit import localstore
from kit.testing import publish_as_producer, trust_env


@pytest.fixture
def process(make_settings: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = make_settings("analytics", cls=AnalyticsSettings, pseudonym_key=KEY)
    port = localstore.free_port()
    env = {
        **os.environ,
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KOHTAAMO_PSEUDONYM_KEY": KEY,
        "KOHTAAMO_LOG_FORMAT": "json",
        # The queues may already exist in this run's vhost: declare them the same way.
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
        # Who the run's services are on the broker, and the run's site key.
        **trust_env(settings),
    }
    log = (tmp_path / "analytics.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "run", "analytics", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield {
            "url": f"http://127.0.0.1:{port}",
            "settings": settings,
            "log": tmp_path / "analytics.log",
        }
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


async def test_kohtaamo_run_analytics(process: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    ready: Any = None
    async with httpx.AsyncClient(base_url=process["url"], timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                response = await client.get("/readyz")
                ready = response.json()
                if response.status_code == 200:
                    break
            except httpx.HTTPError as exc:
                ready = exc
            await asyncio.sleep(0.3)
        log_tail = process["log"].read_text()[-3000:]
        assert isinstance(ready, dict) and ready["status"] == "ready", (ready, log_tail)
        assert set(ready["checks"]["consumers"]["attached"]) == {
            "kohtaamo.analytics.identity",
            "kohtaamo.analytics.identity-revocations",  # the kit's, in every service
            "kohtaamo.analytics.events",
            "kohtaamo.analytics.bookings",
        }
        unauthenticated = await client.get("/analytics/reports/esf")
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["content-type"] == "application/problem+json"

    settings = process["settings"]
    event = attend(E1[0], "someone", E1[1], E1[2], 2.0)
    await publish_as_producer(settings, event)
    client = AsyncMongoClient(settings.mongo_url.get_secret_value(), retryWrites=False)
    try:
        facts = client[settings.database_name()].facts
        fact = None
        for _ in range(200):
            fact = await facts.find_one({"_id": event.id})
            if fact:
                break
            await asyncio.sleep(0.1)
        assert fact is not None, "the process did not store the fact"
        assert fact["participant"] and fact["participant"] != "someone"
        assert "user_id" not in fact["data"]
    finally:
        await client.close()
