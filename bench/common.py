"""Shared bits of the benchmark scripts: a store and a vhost for the run, percentiles and
the JSON result file. Benchmarks print ratios against a baseline measured in the same run;
they are never timed assertions."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kit import localstore, rabbit_env
from kit.broker_users import permissions, user_name

RESULTS = Path(__file__).parent / "results"


@contextmanager
def environment(
    tmp: Path | None = None, services: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """A private vhost and (unless KOHTAAMO_BENCH_MONGO_URL) a fresh embedded store; for
    each of `services` a broker user of the run with a site's permissions for it
    (`url:<service>`; user names start with `user_prefix`)."""
    run = uuid.uuid4().hex[:8]
    vhost = f"kohtaamo-bench-{run}"
    base = os.environ.get("KOHTAAMO_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    rabbit_env.create_vhost(vhost)
    prefix = f"kohtaamo-b{run}-"
    passwords = {user_name(prefix, s): secrets.token_urlsafe(16) for s in services}
    if services:
        rabbit_env.add_users(
            vhost, {user_name(prefix, s): permissions(s) for s in services}, passwords
        )
    urls = {
        f"url:{s}": rabbit_env.with_credentials(
            rabbit_env.with_vhost(base, vhost),
            user_name(prefix, s),
            passwords[user_name(prefix, s)],
        )
        for s in services
    }
    store = None
    mongo = os.environ.get("KOHTAAMO_BENCH_MONGO_URL")
    try:
        if not mongo:
            port = localstore.free_port()
            data = (tmp or Path(os.environ.get("TMPDIR", "/tmp"))) / f"kohtaamo-bench-{run}"
            store = localstore.start_store(data_dir=data, port=port)
            mongo = localstore.store_url(port)
        yield {
            "amqp_url": rabbit_env.with_vhost(base, vhost),
            "mongo_url": mongo,
            "store_pid": "" if store is None else str(store.pid),  # "": not ours
            "run": run,
            "user_prefix": prefix,
            **urls,
        }
    finally:
        if store is not None:
            localstore.stop_store(store)
        rabbit_env.delete_vhost(vhost)
        rabbit_env.delete_users(passwords)


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "p50_ms": round(at(0.50) * 1000, 3),
        "p95_ms": round(at(0.95) * 1000, 3),
        "p99_ms": round(at(0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def write(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **figures,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path
