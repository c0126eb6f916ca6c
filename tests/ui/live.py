"""The real Kohtaamo platform for the browser tests: every service as its own process
(`kohtaamo run <name>`) on this run's RabbitMQ vhost and store, demo data seeded, and the
gateway in front serving the web UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from kit import localstore, registry

SERVICES = ("identity", "events", "bookings", "notifications", "analytics")
SEEDED = ("events", "bookings")
KOHTAAMO = [sys.executable, "-m", "kit.cli"]


@dataclass
class Platform:
    gateway: str
    urls: dict[str, str]
    env: dict[str, str]
    logs: Path
    mongo_url: str
    database_prefix: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def database(self, service: str) -> str:
        return f"{self.database_prefix}kohtaamo_{service}"

    def log_tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]


def _env(settings: Any, identity_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KOHTAAMO_IDENTITY_URL": identity_url,
        "KOHTAAMO_LOG_FORMAT": "json",
        # Queue arguments must match those other suites of this run declare.
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
        "KOHTAAMO_OUTBOX_POLL_S": "0.2",
        # Test-only secrets and cheap password hashing.
        "KOHTAAMO_PSEUDONYM_KEY": "ui-test-pseudonym-key",
        "KOHTAAMO_KEY_ENCRYPTION_SECRET": "ui-test-key-secret",
        "KOHTAAMO_ARGON2_TIME_COST": "1",
        "KOHTAAMO_ARGON2_MEMORY_KIB": "8192",
    }


def _wait_ready(platform: Platform, name: str, url: str, timeout: float = 180) -> None:
    process = platform.processes[name]
    deadline = time.monotonic() + timeout
    last: Any = None
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{platform.log_tail(name)}")
            try:
                response = client.get(url + "/readyz")
                if response.status_code == 200:
                    return
                last = response.text[:300]
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
    raise RuntimeError(f"{name} not ready: {last}")


def _ensure_municipalities(platform: Platform) -> None:
    """The demo municipalities, as the site's platform admin would create them (no account
    exists yet on a fresh site)."""
    with MongoClient(platform.mongo_url, retryWrites=False) as client:
        for slug, name in (("helsinki", "Helsinki"), ("kouvola", "Kouvola")):
            client[platform.database("identity")].municipalities.update_one(
                {"_id": slug},
                {
                    "$setOnInsert": {
                        "name": {"fi": name},
                        "languages": ["fi", "sv", "en"],
                        "timezone": "Europe/Helsinki",
                    }
                },
                upsert=True,
            )


def start(settings: Any, logs: Path) -> Platform:
    logs.mkdir(parents=True, exist_ok=True)
    ports = {name: localstore.free_port() for name in (*SERVICES, "gateway")}
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
    env = _env(settings, urls["identity"])
    platform = Platform(
        gateway=f"http://127.0.0.1:{ports['gateway']}",
        urls=urls,
        env=env,
        logs=logs,
        mongo_url=settings.mongo_url.get_secret_value(),
        database_prefix=settings.mongo_db_prefix,
    )
    # Demo venues, events, locations and resources; the tests make their own accounts, so
    # identity's demo people (many password hashes) are not needed.
    seeded = [name for name in SEEDED if registry.seeder(name) is not None]
    gateway_env = {
        **env,
        # Every test user signs up and logs in from the same address.
        "KOHTAAMO_RATE_LIMIT_AUTH": "1000/minute",
        **{f"KOHTAAMO_UPSTREAMS__{name.upper()}": urls[name] for name in SERVICES},
    }
    try:
        # Seeding and starting overlap: each takes a while to import, and the seeders'
        # events wait in their outboxes until every consumer's queue is there.
        seeds = {}
        for name in seeded:  # one process each: they run side by side
            with (logs / f"seed-{name}.log").open("wb") as out:
                seeds[f"seed-{name}"] = subprocess.Popen(
                    [*KOHTAAMO, "seed", name], env=env, stdout=out, stderr=subprocess.STDOUT
                )
        for name in (*SERVICES, "gateway"):
            with (logs / f"{name}.log").open("wb") as out:
                platform.processes[name] = subprocess.Popen(
                    [*KOHTAAMO, "run", name, "--port", str(ports[name])],
                    env=gateway_env if name == "gateway" else env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        platform.processes.update(seeds)
        for name, seed in seeds.items():
            if seed.wait(600) != 0:
                raise RuntimeError(f"{name} failed:\n{platform.log_tail(name)}")
            del platform.processes[name]
        for name in SERVICES:
            _wait_ready(platform, name, urls[name])
        _wait_ready(platform, "gateway", platform.gateway)
        _ensure_municipalities(platform)
    except BaseException:  # pytest's timeout too: never leave processes behind
        stop(platform)
        raise
    return platform


def stop(platform: Platform) -> None:
    for process in platform.processes.values():
        process.terminate()
    for process in platform.processes.values():
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
