"""Shared bits of the benchmarks that load ONE service process over HTTP: a token issuer
the process trusts (its JWKS served from the benchmark's own process), the service in a
child process on a free port, and closed-loop load at a fixed number of connections."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from common import environment

from kit import localstore, registry
from kit.testing import TestIssuer

KOHTAAMO = [sys.executable, "-m", "kit.cli"]


@contextmanager
def kept_environment() -> Iterator[dict[str, str]]:
    """`common.environment`, except that when the broker's CLI fails to delete the run's
    vhost at the end (it does under heavy load) the run's figures are not lost: the
    failure is printed, with the vhost's name to delete by hand."""
    stack = ExitStack()
    env = stack.enter_context(environment())
    try:
        yield env
    finally:
        try:
            stack.close()
        except subprocess.CalledProcessError as exc:
            print(f"not cleaned up: {' '.join(map(str, exc.cmd))}", file=sys.stderr)


@asynccontextmanager
async def issuer_server() -> AsyncIterator[tuple[TestIssuer, str]]:
    """A test issuer with its JWKS at http://127.0.0.1:<port>/.well-known/jwks.json."""
    issuer = TestIssuer()
    port = localstore.free_port()
    config = uvicorn.Config(issuer.app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(600):  # up to 30 s
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield issuer, f"http://127.0.0.1:{port}/.well-known/jwks.json"
    finally:
        server.should_exit = True
        await task


def service_env(env: dict[str, str], issuer: TestIssuer, jwks_url: str) -> dict[str, str]:
    """Environment of a service process on the run's broker and store, trusting `issuer`."""
    trusted = f'[{{"issuer": "{issuer.issuer}", "jwks_url": "{jwks_url}"}}]'
    return {
        **os.environ,
        "KOHTAAMO_AMQP_URL": env["amqp_url"],
        "KOHTAAMO_MONGO_URL": env["mongo_url"],
        "KOHTAAMO_MONGO_DB_PREFIX": f"bench{env['run']}_",
        "KOHTAAMO_LOG_LEVEL": "WARNING",
        "KOHTAAMO_LOG_FORMAT": "json",
        "KOHTAAMO_TRUSTED_ISSUERS": trusted,
        "KOHTAAMO_TRUST_OWN_IDENTITY": "false",
    }


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values`, restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def platform_queues(env: dict[str, str]) -> list[str]:
    """Declare every installed service's consumer queues on the run's vhost (`env`: a
    service's environment, `service_env`), as the platform has them, and return their
    names. Without them nothing is bound to the measured service's exchange: each message
    it publishes comes back unroutable, and its relay retries and parks every one of them
    (minutes of work after a bulk load, and none of it happens on the platform)."""
    from kit.app import Service

    declared: list[str] = []
    # Analytics refuses to start without the network's pseudonym key; nothing is stored.
    key = {"KOHTAAMO_PSEUDONYM_KEY": os.environ.get("KOHTAAMO_PSEUDONYM_KEY")
           or secrets.token_urlsafe(32)}  # fmt: skip
    with environ({**env, **key}):
        for name in registry.installed():
            svc = registry.load_factory(name)()
            if not isinstance(svc, Service):
                continue  # HTTP only (the gateway): consumes nothing
            try:
                await svc.declare_topology()
            finally:
                await svc.bus.stop()
                await svc.store.close()
            declared += [c.queue for c in svc.consumers]
    return declared


@contextmanager
def service_process(
    name: str, env: dict[str, str], ready_within: float = 120
) -> Iterator[tuple[str, int]]:
    """`kohtaamo run <name>` on a free port; yields its base URL and process id once
    /readyz says ready (within `ready_within` seconds: the events catalogue of 100,000
    events takes minutes on a busy machine)."""
    port = localstore.free_port()
    log = tempfile.TemporaryFile()  # its warnings, shown if it dies
    process = subprocess.Popen(
        [*KOHTAAMO, "run", name, "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within
        with httpx.Client(timeout=5) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}")
                try:
                    if client.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready")
                time.sleep(0.3)
        yield base, process.pid
    finally:
        if process.poll() is not None:
            log.seek(0)
            print(log.read()[-30000:].decode(errors="replace"), file=sys.stderr)
        log.close()
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True)
class Sample:
    done: float  # perf_counter when the answer arrived
    seconds: float
    status: int
    retries: int = 0  # connection errors before the answer (a closed keep-alive)


def client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=60, limits=limits)


async def closed_loop(
    work: Iterable[Any],
    request: Callable[[Any], Awaitable[httpx.Response]],
    concurrency: int,
) -> tuple[float, list[Sample]]:
    """Each of `concurrency` workers sends its next request when the last one answered.
    Returns the start time and one sample per request, in order of completion."""
    queue = iter(work)
    samples: list[Sample] = []

    async def worker() -> None:
        for item in queue:
            began = time.perf_counter()
            for retries in range(4):
                try:
                    response = await request(item)
                    break
                except httpx.TransportError:
                    if retries == 3:
                        raise
            now = time.perf_counter()
            samples.append(Sample(now, now - began, response.status_code, retries))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started, samples


async def raw_load(
    base: str, requests: list[tuple[str, str]], seconds: float, connections: int
) -> tuple[float, list[float], int]:
    """Closed-loop GETs on `connections` keep-alive HTTP/1.1 connections for `seconds`,
    each sending its next request as soon as the last answer is read; `requests` are
    (path, extra header lines) taken round robin. A raw client: httpx costs more CPU per
    request than a service's /healthz, on the same 2 cores, so with it the load generator
    sets the pace. Returns the rate, every latency, and how many answers were not 200."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    bad = 0
    deadline = time.perf_counter() + seconds

    async def connection(n: int) -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, int(port))
        at = n
        try:
            while time.perf_counter() < deadline:
                path, headers = requests[at % len(requests)]
                at += connections
                began = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                if head[9:12] != b"200":
                    bad += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection(n) for n in range(connections)))
    return len(latencies) / (time.perf_counter() - began), latencies, bad


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far (Linux /proc), None where that
    is not readable: the cost of work in time the machine's load does not inflate."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_kb(pid: int) -> int | None:
    """Resident memory of a process (Linux /proc), None where that is not readable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
