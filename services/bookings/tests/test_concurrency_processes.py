"""No double booking across replicas: two bookings service processes on one store, 100
clients booking overlapping slots of one resource at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bookings.testing import at, future_day
from kit import localstore
from kit.testing import TestIssuer, trust_env


@pytest.fixture
async def jwks_url(issuer: TestIssuer) -> AsyncIterator[str]:
    """The test issuer's JWKS over HTTP, so service processes can verify its tokens."""
    port = localstore.free_port()
    server = uvicorn.Server(
        uvicorn.Config(issuer.app, host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}/.well-known/jwks.json"
    server.should_exit = True
    await task


@pytest.fixture
async def two_replicas(
    make_settings: Callable[..., Any], issuer: TestIssuer, jwks_url: str, tmp_path: Path
) -> AsyncIterator[list[str]]:
    settings = make_settings("bookings")
    env = {
        **os.environ,
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        **trust_env(settings),  # the run's broker users and site key
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,  # one database for both
        "KOHTAAMO_LOG_FORMAT": "json",
        "KOHTAAMO_LOG_LEVEL": "WARNING",
        # same queue arguments as the in-process service of this run declared
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
        "KOHTAAMO_TRUST_OWN_IDENTITY": "false",
        "KOHTAAMO_TRUSTED_ISSUERS": json.dumps([{"issuer": issuer.issuer, "jwks_url": jwks_url}]),
    }
    processes, urls, logs = [], [], []
    for i in range(2):
        port = localstore.free_port()
        logs.append(tmp_path / f"bookings-{i}.log")
        log = logs[-1].open("wb")
        processes.append(
            subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
                [sys.executable, "-m", "kit.cli", "run", "bookings", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, process, log_path in zip(urls, processes, logs, strict=True):
            await _wait_ready(url, process, log_path)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


async def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 240.0
) -> None:
    """Ready, or the process ended (fails at once, with its log). The deadline only stops a
    hung start: a loaded machine starts a process slowly (over 60 s seen at load 19)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{url} exited {process.returncode}:\n{_tail(log)}")
            try:
                if (await client.get(f"{url}/readyz", timeout=5)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"{url} not ready:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


async def test_hundred_clients_two_replicas_no_double_booking(
    two_replicas: list[str], issuer: TestIssuer
) -> None:
    staff = issuer.headers(sub="staff-1", roles=["staff"], municipality="helsinki")
    week = {str(d): [{"opens": "08:00", "closes": "20:00"}] for d in range(7)}
    async with httpx.AsyncClient(timeout=120) as http:
        location = (
            await http.post(
                f"{two_replicas[0]}/locations",
                headers=staff,
                json={"name": {"fi": "Kilpailutesti"}, "hours": {"weekly": week}},
            )
        ).json()
        room = (
            await http.post(
                f"{two_replicas[1]}/resources",
                headers=staff,
                json={
                    "location_id": location["id"],
                    "kind": "meeting_room",
                    "name": {"fi": "Sali"},
                    "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 180},
                },
            )
        ).json()
        day = future_day(2)
        base = datetime.fromisoformat(at(day, "08:00"))
        # 100 requests: 40 for exactly the same hour, 60 of varied overlapping lengths.
        wanted: list[tuple[datetime, datetime]] = []
        for i in range(100):
            if i < 40:
                start, minutes = base + timedelta(hours=2), 60
            else:
                start = base + timedelta(minutes=30 * ((i * 7) % 20))
                minutes = 30 * (1 + i % 4)
            wanted.append((start, start + timedelta(minutes=minutes)))

        async def attempt(i: int) -> httpx.Response:
            start, end = wanted[i]
            return await http.post(
                f"{two_replicas[i % 2]}/bookings",
                headers=issuer.headers(sub=f"client-{i}", municipality="helsinki"),
                json={
                    "resource_id": room["id"],
                    "starts_at": start.isoformat(),
                    "ends_at": end.isoformat(),
                },
            )

        began = time.monotonic()
        responses = await asyncio.gather(*(attempt(i) for i in range(100)))
        print(f"100 concurrent bookings took {time.monotonic() - began:.1f}s")
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code >= 500]
        confirmed = [
            (
                datetime.fromisoformat(r.json()["starts_at"]),
                datetime.fromisoformat(r.json()["ends_at"]),
            )
            for r in responses
            if r.status_code == 201
        ]
        # never two overlapping confirmations
        for i, a in enumerate(confirmed):
            for b in confirmed[i + 1 :]:
                assert not _overlap(a, b), (a, b)
        # and every refusal was a real conflict with a confirmed booking (nothing lost)
        view = (
            await http.get(
                f"{two_replicas[0]}/locations/{location['id']}/day",
                params={"date": day.isoformat()},
                headers=staff,
            )
        ).json()
        stored = {
            (datetime.fromisoformat(b["starts_at"]), datetime.fromisoformat(b["ends_at"]))
            for b in view["bookings"]
            if b["status"] == "confirmed"
        }
        assert stored == set(confirmed)
        local_confirmed = {
            (s.replace(tzinfo=None), e.replace(tzinfo=None))
            for s, e in [
                (
                    datetime.fromisoformat(b["starts_at"]).astimezone(_zone()),
                    datetime.fromisoformat(b["ends_at"]).astimezone(_zone()),
                )
                for b in view["bookings"]
                if b["status"] == "confirmed"
            ]
        }
        for i, response in enumerate(responses):
            if response.status_code == 409:
                assert any(_overlap(wanted[i], c) for c in local_confirmed), wanted[i]
        same_hour = [r for r in responses[:40] if r.status_code == 201]
        assert len(same_hour) <= 1
        assert len(confirmed) >= 2


def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Helsinki")
