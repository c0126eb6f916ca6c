"""Latency and throughput through the gateway against calling the service directly, in
the same run. Targets: the real events service (GET /events/{id}, reads its store) and a
minimal upstream (the gateway tests' echo app, so the gateway's own cost is not hidden
behind the service's). Each is measured interleaved (direct, gateway, direct, ...) so both
see the same machine load. Prints added p50/p99 and the throughput ratio; writes JSON to
bench/results/gateway_latency.json.

    uv run python bench/gateway_latency.py [--requests 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from kit import localstore, rabbit_env

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "services" / "gateway" / "tests" / "apps"
KOHTAAMO = [sys.executable, "-m", "kit.cli"]


def wait(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise RuntimeError(f"{url} not ready")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc); None where that is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of stat(5), counted after the ")" that closes the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(client: httpx.AsyncClient, urls: dict[str, str], n: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {k: [] for k in urls}
    for _ in range(n):
        for name, url in urls.items():
            started = time.perf_counter()
            response = await client.get(url)
            samples[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code, response.text[:200])
    return {
        name: {
            "p50_ms": round(statistics.median(v), 3),
            "p99_ms": round(pct(v, 0.99), 3),
            "mean_ms": round(statistics.fmean(v), 3),
        }
        for name, v in samples.items()
    }


async def throughput(client: httpx.AsyncClient, url: str, n: int, concurrency: int) -> float:
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            response = await client.get(url)
            assert response.status_code == 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def measure(
    direct: str, gateway: str, n: int, concurrency: int, gateway_pid: int
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(30):  # warm pools and caches on both paths
            await client.get(direct)
            await client.get(gateway)
        cpu_before = cpu_seconds(gateway_pid)
        lat = await latency(client, {"direct": direct, "gateway": gateway}, n)
        cpu_after = cpu_seconds(gateway_pid)
        rates = {"direct": [], "gateway": []}
        for _ in range(2):  # alternate twice so a load spike does not favour one side
            for name, url in (("direct", direct), ("gateway", gateway)):
                rates[name].append(await throughput(client, url, n, concurrency))
    direct_rps = statistics.fmean(rates["direct"])
    gateway_rps = statistics.fmean(rates["gateway"])
    # The gateway's own CPU per proxied request, for context: on a shared or virtual
    # machine it moves with the machine's state about as much as the latency does.
    cpu_ms = (
        round((cpu_after - cpu_before) * 1000 / n, 3)
        if cpu_before is not None and cpu_after is not None
        else None
    )
    return {
        "latency": lat,
        "gateway_cpu_ms_per_request": cpu_ms,
        "added_p50_ms": round(lat["gateway"]["p50_ms"] - lat["direct"]["p50_ms"], 3),
        "added_p99_ms": round(lat["gateway"]["p99_ms"] - lat["direct"]["p99_ms"], 3),
        "throughput_rps": {"direct": round(direct_rps, 1), "gateway": round(gateway_rps, 1)},
        "throughput_ratio": round(gateway_rps / direct_rps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    vhost = f"kohtaamo-bench-gw-{run}"
    rabbit_env.create_vhost(vhost)
    store_port = localstore.free_port()
    store = localstore.start_store(data_dir=":memory:", port=store_port)
    ports = {name: localstore.free_port() for name in ("events", "echo", "gateway")}
    env = {
        **os.environ,
        "KOHTAAMO_AMQP_URL": rabbit_env.with_vhost("amqp://guest:guest@127.0.0.1:5672/", vhost),
        "KOHTAAMO_MONGO_URL": localstore.store_url(store_port),
        "KOHTAAMO_MONGO_DB_PREFIX": f"bench{run}_",
        "KOHTAAMO_LOG_LEVEL": "WARNING",
        # Bench-only secrets some services insist on at start.
        "KOHTAAMO_PSEUDONYM_KEY": "bench-pseudonym-key",
        "KOHTAAMO_KEY_ENCRYPTION_SECRET": "bench-key-secret",
        "KOHTAAMO_LOG_FORMAT": "json",
    }
    gateway_env = {
        **env,
        "KOHTAAMO_RATE_LIMIT_CLIENT": "10000000/minute",
        "KOHTAAMO_UPSTREAMS__EVENTS": f"http://127.0.0.1:{ports['events']}",
        # The echo app answers any path; here it stands in as "bookings".
        "KOHTAAMO_UPSTREAMS__BOOKINGS": f"http://127.0.0.1:{ports['echo']}",
        "KOHTAAMO_UPSTREAMS__IDENTITY": "",
        "KOHTAAMO_UPSTREAMS__NOTIFICATIONS": "",
        "KOHTAAMO_UPSTREAMS__ANALYTICS": "",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        seeded = subprocess.run(
            [*KOHTAAMO, "seed", "events"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if seeded.returncode != 0:
            raise RuntimeError("seeding events failed:\n" + seeded.stdout[-3000:])
        processes.append(
            subprocess.Popen(
                [*KOHTAAMO, "run", "events", "--port", str(ports["events"])],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "echo_upstream:app",
                    "--port",
                    str(ports["echo"]),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env={**env, "PYTHONPATH": str(APPS), "ECHO_SERVICE": "bookings"},
            )
        )
        gateway = subprocess.Popen(
            [*KOHTAAMO, "run", "gateway", "--port", str(ports["gateway"])],
            env=gateway_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(gateway)
        for name in ("events", "gateway"):
            wait(f"http://127.0.0.1:{ports[name]}/readyz")
        wait(f"http://127.0.0.1:{ports['echo']}/readyz")
        gw = f"http://127.0.0.1:{ports['gateway']}/api/v1"
        targets = {
            "events": (
                f"http://127.0.0.1:{ports['events']}/events/evt-hki-cv",
                f"{gw}/events/evt-hki-cv",
            ),
            "echo": (f"http://127.0.0.1:{ports['echo']}/bookings/b-1", f"{gw}/bookings/b-1"),
        }
        results: dict[str, Any] = {
            "bench": "gateway_latency",
            "requests": args.requests,
            "concurrency": args.concurrency,
            "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(),
            "targets": {},
        }
        for name, (direct, through) in targets.items():
            result = asyncio.run(
                measure(direct, through, args.requests, args.concurrency, gateway.pid)
            )
            results["targets"][name] = result
            lat = result["latency"]
            print(
                f"{name:>7}: p50 direct {lat['direct']['p50_ms']:.2f} ms, gateway "
                f"{lat['gateway']['p50_ms']:.2f} ms (added {result['added_p50_ms']:+.2f} ms); "
                f"p99 added {result['added_p99_ms']:+.2f} ms; throughput "
                f"{result['throughput_rps']['gateway']:.0f}/{result['throughput_rps']['direct']:.0f}"
                f" req/s = {result['throughput_ratio']:.2f} of direct; gateway CPU "
                f"{result['gateway_cpu_ms_per_request']} ms/request"
            )
        out = ROOT / "bench" / "results" / "gateway_latency.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"written {out.relative_to(ROOT)}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        localstore.stop_store(store)
        rabbit_env.delete_vhost(vhost)


if __name__ == "__main__":
    main()
