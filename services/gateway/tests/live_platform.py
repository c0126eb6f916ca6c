"""The real Kohtaamo services, each as its own process (`kohtaamo run <name>`), on this
run's RabbitMQ vhost and store, with demo data seeded, and a gateway process in front."""

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

from kit import localstore, registry

SERVICES = ("identity", "events", "bookings", "notifications", "analytics")
KOHTAAMO = [sys.executable, "-m", "kit.cli"]


@dataclass
class Platform:
    urls: dict[str, str]
    gateway: str
    env: dict[str, str]
    logs: Path
    database_prefix: str
    mongo_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]


def base_env(settings: Any, identity_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KOHTAAMO_IDENTITY_URL": identity_url,
        "KOHTAAMO_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        # Queue arguments must match those the in-process services of this run declare.
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
        "KOHTAAMO_OUTBOX_POLL_S": "0.2",
        # Test-only secrets and cheap password hashing.
        "KOHTAAMO_PSEUDONYM_KEY": "gateway-e2e-pseudonym-key",
        "KOHTAAMO_KEY_ENCRYPTION_SECRET": "gateway-e2e-key-secret",
        "KOHTAAMO_ARGON2_TIME_COST": "1",
        "KOHTAAMO_ARGON2_MEMORY_KIB": "8192",
    }


def wait_ready(
    url: str, process: subprocess.Popen[bytes], name: str, logs: Path, timeout: float = 300
) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            try:
                response = client.get(url + "/readyz")
                if response.status_code == 200:
                    return
                last = response.text[:500]
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
    raise RuntimeError(f"{name} not ready: {last}")


def start_platform(settings: Any, logs: Path, gateway_env: dict[str, str]) -> Platform:
    logs.mkdir(parents=True, exist_ok=True)
    ports = {name: localstore.free_port() for name in (*SERVICES, "gateway")}
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
    env = base_env(settings, urls["identity"])
    platform = Platform(
        urls=urls,
        gateway=f"http://127.0.0.1:{ports['gateway']}",
        env=env,
        logs=logs,
        database_prefix=settings.mongo_db_prefix,
        mongo_url=settings.mongo_url.get_secret_value(),
    )
    seeded = [name for name in SERVICES if registry.seeder(name) is not None]
    seed = subprocess.Popen(
        [*KOHTAAMO, "seed", *seeded],
        env=env,
        stdout=(logs / "seed.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    if seed.wait(180) != 0:
        raise RuntimeError("seeding failed:\n" + (logs / "seed.log").read_text()[-3000:])
    gw_env = {**env, **gateway_env}
    for name in SERVICES:
        gw_env[f"KOHTAAMO_UPSTREAMS__{name.upper()}"] = urls[name]
    for name in (*SERVICES, "gateway"):
        platform.processes[name] = subprocess.Popen(
            [*KOHTAAMO, "run", name, "--port", str(ports[name])],
            env=gw_env if name == "gateway" else env,
            stdout=(logs / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
    try:
        for name in SERVICES:
            wait_ready(urls[name], platform.processes[name], name, logs)
        wait_ready(platform.gateway, platform.processes["gateway"], "gateway", logs)
    except BaseException:  # also pytest's timeout: never leave processes behind
        stop_platform(platform)
        raise
    return platform


def stop_platform(platform: Platform) -> None:
    for process in platform.processes.values():
        process.terminate()
    for process in platform.processes.values():
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
