"""The embedded MongoDB-compatible store (SecantusDB's `secantusd-py` daemon) for local
runs and tests, used only when no `KOHTAAMO_MONGO_URL` is given."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now, for a process about to listen on it: outside the kernel's
    ephemeral range where that is known, since a port from that range can be taken in the
    meantime as the local end of any outgoing connection (a test's processes open many:
    a service then failed to start with "address already in use")."""
    low, _ = _ephemeral_range()
    candidates = random.sample(range(10_000, low), min(50, max(low - 10_000, 0)))
    for port in candidates:
        if port in _GIVEN:  # handed out already: maybe not listened on yet
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    with socket.socket() as s:  # no range known, or all tried taken: the kernel's pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 10_000, 10_000  # unknown: leaves only the kernel's pick


def store_url(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false"


def wait_for_store(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client: MongoClient[dict[str, Any]]
            with MongoClient(url, serverSelectionTimeoutMS=500, retryWrites=False) as client:
                client.admin.command("ping")
            return
        except PyMongoError as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"store at {url} did not answer: {last}")


def start_store(
    *,
    data_dir: str | Path,
    port: int,
    log_file: str | Path | None = None,
    cache_size: str = "256M",
    oplog: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `secantusd-py` on 127.0.0.1:`port` with data under `data_dir` (":memory:" for a
    throwaway store). Returns once it answers a ping.

    Without `oplog` it runs standalone: Kohtaamo reads no change streams, and the oplog
    cost the store an extra encoded write per document written (15-20% of its CPU in the
    analytics ingest). Transactions work the same; a real MongoDB still needs a replica
    set for them (docker-compose runs one)."""
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    if str(data_dir) != ":memory:":
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        [
            exe,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(data_dir),
            "--log-level",
            "WARNING",
            "--cache-size",
            cache_size,
            *([] if oplog else ["--standalone"]),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    try:
        wait_for_store(store_url(port))
    except Exception:
        process.kill()
        raise
    return process


def stop_store(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
