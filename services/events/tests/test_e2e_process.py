"""End to end: the events service as its own process (`kohtaamo run events`), tokens from
an issuer it trusts by configuration (JWKS over HTTP), and a consumer bound to its
exchange the way another service binds: a published event and a sign-up arrive there
through the real RabbitMQ, carrying the request's correlation id."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from contracts import events as ev
from contracts import topology
from kit import localstore
from kit.testing import TestIssuer, drain, eventually, trust_env

from .conftest import helsinki_now
from .test_replicas import LAG_S


@pytest.fixture
def jwks_url(issuer: TestIssuer) -> Iterator[str]:
    body = json.dumps({"keys": [issuer.public_jwk(kid) for kid in issuer.keys]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


@pytest.fixture
def events_process(
    make_settings: Any, issuer: TestIssuer, jwks_url: str, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    yield from run_process(make_settings("events"), issuer, jwks_url, tmp_path)


def run_process(
    settings: Any, issuer: TestIssuer, jwks_url: str, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """`kohtaamo run events` on the broker, vhost and databases of `settings`."""
    port = localstore.free_port()
    env = {
        **os.environ,
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        **trust_env(settings),  # the run's broker users and site key
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KOHTAAMO_MONGO_KIND": settings.mongo_kind,
        "KOHTAAMO_OUTBOX_POLL_S": str(settings.outbox_poll_s),
        "KOHTAAMO_LOG_FORMAT": "json",
        # queue arguments must match those the in-process service of this run declared
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
        "KOHTAAMO_TRUST_OWN_IDENTITY": "false",
        "KOHTAAMO_TRUSTED_ISSUERS": json.dumps([{"issuer": issuer.issuer, "jwks_url": jwks_url}]),
    }
    exe = shutil.which("kohtaamo", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "kit.cli"]
    log = (tmp_path / "events.log").open("wb")
    process = subprocess.Popen(
        [*command, "run", "events", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield {"url": f"http://127.0.0.1:{port}", "log": tmp_path / "events.log"}
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def wait_ready(url: str, log: Path, timeout: float = 240.0) -> dict[str, Any]:
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
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:]
    raise AssertionError(f"events service not ready: {last}\n{tail}")


@pytest.mark.timeout(300)  # a process start is slow on a busy machine
async def test_published_event_reaches_another_service(
    events_process: dict[str, Any], issuer: TestIssuer, amqp_url: str
) -> None:
    ready = wait_ready(events_process["url"], events_process["log"])
    attached = ready["checks"]["consumers"]["attached"]
    # >= 1: the in-process service of this run may consume from the same queues
    assert sorted(attached) == [
        "kohtaamo.events.identity-erasure",
        "kohtaamo.events.identity-revocations",  # the kit's, in every service
        "kohtaamo.events.identity-roles",
    ]
    assert all(count >= 1 for count in attached.values())
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        # bound as a consuming service would bind: its own durable queue, by routing key
        queue = await channel.declare_queue("kohtaamo.e2etest.learning-events", durable=True)
        exchange = topology.exchange("events")
        for type_ in (ev.EVENT_PUBLISHED, ev.REGISTRATION_CONFIRMED):
            await queue.bind(exchange, routing_key=topology.routing_key(type_))

        staff = issuer.headers(roles=["staff"], municipality="kouvola")
        resident = issuer.headers(roles=["resident"], municipality="kouvola", sub="e2e-user")
        async with httpx.AsyncClient(base_url=events_process["url"], timeout=20) as client:
            venue = await client.post(
                "/venues", json={"kind": "cafe", "name": {"fi": "Kahvila"}}, headers=staff
            )
            assert venue.status_code == 201, venue.text
            body = {
                "kind": "avaa_tila",
                "title": {"fi": "Kirjasto kahvilassa"},
                "venue_id": venue.json()["id"],
                "capacity": 10,
                "starts_at": "2027-02-01T12:00:00",
                "ends_at": "2027-02-01T14:00:00",
            }
            created = await client.post("/events", json=body, headers=staff)
            event_id = created.json()["id"]
            r = await client.post(
                f"/events/{event_id}/publish", headers={**staff, "X-Correlation-ID": "e2e-corr-1"}
            )
            assert r.status_code == 200
            r = await client.post(f"/events/{event_id}/registrations", json={}, headers=resident)
            assert r.status_code == 201 and r.json()["status"] == "confirmed"
            got = await drain(queue, 2, timeout=20)
            assert (
                await client.get("/events", params={"municipality": "kouvola"})
            ).status_code == 200
            bad = await client.post("/events", json={**body, "kind": "rave"}, headers=staff)
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "kind"
            assert (await client.post("/venues", json={}, headers=resident)).status_code == 403
        by_type = {g["body"]["type"]: g["body"] for g in got}
        publish = by_type[ev.EVENT_PUBLISHED]
        assert publish["data"]["event_id"] == event_id and publish["municipality"] == "kouvola"
        assert publish["correlationid"] == "e2e-corr-1"
        assert publish["data"]["starts_at"].startswith("2027-02-01T10:00:00")  # UTC
        signup = by_type[ev.REGISTRATION_CONFIRMED]
        assert signup["data"]["user_id"] == "e2e-user" and signup["data"]["event_id"] == event_id
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


@pytest.fixture
def second_process(
    svc: Any, issuer: TestIssuer, jwks_url: str, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """Another events process on the same store and vhost as the in-process service."""
    yield from run_process(svc.settings, issuer, jwks_url, tmp_path)


@pytest.mark.timeout(300)  # a process start is slow on a busy machine
async def test_two_processes_read_each_others_writes_within_the_lag(
    second_process: dict[str, Any], api: Any
) -> None:
    """Two events processes, each with its own catalogue: each reads its own write at
    once (no waiting) and the other's within the documented lag (docs/architecture.md)."""
    wait_ready(second_process["url"], second_process["log"])
    word = f"p{uuid.uuid4().hex[:10]}"
    staff = api.auth("staff")
    async with httpx.AsyncClient(base_url=second_process["url"], timeout=20) as other:
        starts = (helsinki_now() + timedelta(days=5)).replace(microsecond=0)
        body = {"kind": "workshop", "title": {"fi": f"Kerho {word}"}, "capacity": 4,
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat()}  # fmt: skip
        r = await other.post("/events", json=body, headers=staff)
        assert r.status_code == 201, r.text
        event_id = r.json()["id"]
        r = await other.post(f"/events/{event_id}/publish", headers=staff)
        assert r.status_code == 200, r.text
        # The writing process, at once.
        listed = (await other.get("/events", params={"q": word})).json()["items"]
        assert [e["id"] for e in listed] == [event_id]

        # The in-process service, within the lag, through the bus.
        async def seen_here() -> bool:
            r = await api.client.get("/events", params={"q": word})
            return [e["id"] for e in r.json()["items"]] == [event_id]

        began = time.monotonic()
        await eventually(seen_here, timeout=LAG_S)
        print(f"lag from the other process: {time.monotonic() - began:.3f} s")
        # A change and a sign-up through the in-process service: at once there, within
        # the lag in the other process.
        r = await api.client.patch(f"/events/{event_id}", json={"title": {"fi": f"Uusi {word}"}},
                                   headers=staff)  # fmt: skip
        assert r.status_code == 200, r.text
        r = await api.register(event_id, sub=f"u-{word}", seats=3)
        assert r.status_code == 201, r.text
        here = (await api.client.get(f"/events/{event_id}")).json()
        assert (here["title"]["fi"], here["seats_free"]) == (f"Uusi {word}", 1)

        async def seen_there() -> bool:
            there = (await other.get(f"/events/{event_id}")).json()
            return (there["title"]["fi"], there["seats_free"]) == (f"Uusi {word}", 1)

        await eventually(seen_there, timeout=LAG_S)
