"""A whole Kohtaamo platform on one machine, for tests and benchmarks (not used at run
time): each service as its own process (`kohtaamo run <name>`) on a given broker vhost and
store, every service on its own database, seeded, with a gateway process in front.

    platform = start(amqp_url=..., mongo_url=..., database_prefix="t1234_", logs=path)
    try:
        httpx.get(platform.gateway + "/api/v1/events?municipality=helsinki")
    finally:
        stop(platform)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from kit import localstore, registry
from kit.settings import DEMO_MUNICIPALITIES
from kit.testing import TEST_SECRETS, trust_env

SERVICES = ("identity", "events", "bookings", "notifications", "analytics")
KOHTAAMO = [sys.executable, "-m", "kit.cli"]
# Demo municipalities for a platform whose identity demo data is not seeded.
MUNICIPALITIES = {"helsinki": "Helsinki", "kouvola": "Kouvola"}


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

    def log(self, name: str) -> str:
        """The whole output of a process so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.log(name)[-chars:]


def process_env(
    *,
    amqp_url: str,
    mongo_url: str,
    database_prefix: str,
    identity_url: str,
    delivery_limit: int | None = None,
    retry_delays_ms: list[int] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of every service process of the platform."""
    env = {
        **os.environ,
        "KOHTAAMO_AMQP_URL": amqp_url,
        "KOHTAAMO_MONGO_URL": mongo_url,
        "KOHTAAMO_MONGO_DB_PREFIX": database_prefix,
        "KOHTAAMO_IDENTITY_URL": identity_url,
        "KOHTAAMO_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        "KOHTAAMO_OUTBOX_POLL_S": "0.2",
        # One site serving both demo municipalities, as `make run` is.
        "KOHTAAMO_MUNICIPALITIES": ",".join(DEMO_MUNICIPALITIES),
        # Test-only secrets and cheap password hashing.
        **TEST_SECRETS,
        "KOHTAAMO_ARGON2_TIME_COST": "1",
        "KOHTAAMO_ARGON2_MEMORY_KIB": "8192",
    }
    # Queue arguments must match those other services of the same vhost declare.
    if delivery_limit is not None:
        env["KOHTAAMO_DELIVERY_LIMIT"] = str(delivery_limit)
    if retry_delays_ms is not None:
        env["KOHTAAMO_RETRY_DELAYS_MS"] = json.dumps(retry_delays_ms)
    return {**env, **extra}


def wait_ready(platform: Platform, name: str, url: str, timeout: float = 300) -> None:
    process = platform.processes[name]
    deadline = time.monotonic() + timeout
    last: Any = None
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{platform.log_tail(name)}"
                )
            try:
                response = client.get(url + "/readyz")
                if response.status_code == 200:
                    return
                last = response.text[:300]
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
    raise RuntimeError(f"{name} not ready: {last}")


def ensure_municipalities(platform: Platform) -> None:
    """The demo municipalities, as a site's platform admin would create them (no account
    exists yet on a fresh site), for platforms that do not seed identity's demo data."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(platform.mongo_url, retryWrites=False) as client:
        for slug, name in MUNICIPALITIES.items():
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


def start(
    *,
    amqp_url: str,
    mongo_url: str,
    database_prefix: str,
    logs: Path,
    services: Iterable[str] = SERVICES,
    seed: Iterable[str] | None = None,
    gateway_env: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    municipalities: bool = False,
    delivery_limit: int | None = None,
    retry_delays_ms: list[int] | None = None,
    timeout: float = 300,
    service_urls: Mapping[str, str] | None = None,
    gateway_port: int | None = None,
) -> Platform:
    """Start `services` (identity among them) and a gateway routing to them only.

    `seed`: the services whose demo data is seeded first (default: every started one that
    has a seeder); `municipalities`: write the demo municipalities into identity's store
    (when identity's demo data is not seeded); `env` goes to every process, `gateway_env`
    to the gateway too (rate limits); `service_urls`: each service's own AMQP URL (its
    broker user), else every process uses `amqp_url`; `gateway_port`: the gateway's port
    chosen beforehand (settings that name the site's address, such as the city login's
    redirect URI)."""
    names = tuple(services)
    if "identity" not in names:
        raise ValueError("the platform needs identity: it issues the tokens")
    logs.mkdir(parents=True, exist_ok=True)
    ports = {name: localstore.free_port() for name in (*names, "gateway")}
    if gateway_port is not None:
        ports["gateway"] = gateway_port
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in names}
    common = process_env(
        amqp_url=amqp_url,
        mongo_url=mongo_url,
        database_prefix=database_prefix,
        identity_url=urls["identity"],
        delivery_limit=delivery_limit,
        retry_delays_ms=retry_delays_ms,
        **dict(env or {}),
    )
    platform = Platform(
        gateway=f"http://127.0.0.1:{ports['gateway']}",
        urls=urls,
        env=common,
        logs=logs,
        mongo_url=mongo_url,
        database_prefix=database_prefix,
    )
    # Services not started are "not deployed" for the gateway (503 problem, no retries).
    upstreams = {f"KOHTAAMO_UPSTREAMS__{n.upper()}": urls.get(n, "") for n in SERVICES}
    for_gateway = {**common, **upstreams, **dict(gateway_env or {})}
    seeded = [n for n in (names if seed is None else seed) if registry.seeder(n) is not None]

    def own(name: str, env: dict[str, str]) -> dict[str, str]:
        url = (service_urls or {}).get(name)
        return {**env, "KOHTAAMO_AMQP_URL": url} if url else env

    try:
        # Seeders run side by side; a seeder declares every consumer's queue before it
        # publishes.
        seeds: dict[str, subprocess.Popen[bytes]] = {}
        for name in seeded:  # one process each: they run side by side
            with (logs / f"seed-{name}.log").open("wb") as out:
                seeds[f"seed-{name}"] = subprocess.Popen(
                    [*KOHTAAMO, "seed", name],
                    env={
                        **own(name, common),
                        # to declare every service's queues as that service
                        "KOHTAAMO_BROKER_URLS": json.dumps(dict(service_urls or {})),
                    },
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        platform.processes.update(seeds)
        # The services start once the seeds are stored: a service that reads its store at
        # start (the events catalogue) would otherwise miss what a seeder wrote directly.
        for name, process in seeds.items():
            if process.wait(timeout * 2) != 0:
                raise RuntimeError(f"{name} failed:\n{platform.log_tail(name)}")
            del platform.processes[name]
        for name in (*names, "gateway"):
            with (logs / f"{name}.log").open("wb") as out:
                platform.processes[name] = subprocess.Popen(
                    [*KOHTAAMO, "run", name, "--port", str(ports[name])],
                    env=own(name, for_gateway if name == "gateway" else common),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        for name in names:
            wait_ready(platform, name, urls[name], timeout)
        wait_ready(platform, "gateway", platform.gateway, timeout)
        if municipalities:
            ensure_municipalities(platform)
    except BaseException:  # pytest's timeout and Ctrl-C too: never leave processes behind
        stop(platform)
        raise
    return platform


def start_for(settings: Any, logs: Path, **options: Any) -> Platform:
    """`start` on a test's settings (`make_settings(...)`): its vhost, store, database
    prefix and queue arguments; each service as its own broker user of the test run."""
    from kit.pytest_plugin import producer_url

    url = settings.amqp_url.get_secret_value()
    options.setdefault(
        "service_urls", {name: producer_url(url, name) for name in (*SERVICES, "gateway")}
    )
    options["env"] = {**trust_env(settings), **dict(options.get("env") or {})}
    return start(
        amqp_url=settings.amqp_url.get_secret_value(),
        mongo_url=settings.mongo_url.get_secret_value(),
        database_prefix=settings.mongo_db_prefix,
        logs=logs,
        delivery_limit=settings.delivery_limit,
        retry_delays_ms=settings.retry_delays_ms,
        **options,
    )


def stop(platform: Platform) -> None:
    for process in platform.processes.values():
        process.terminate()
    for process in platform.processes.values():
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
