"""The embedded MongoDB-compatible store (SecantusDB's `secantusd-py` daemon) for local
runs and tests, used only when no `KOHTAAMO_MONGO_URL` is given."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store_url(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false"


def wait_for_store(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with MongoClient(url, serverSelectionTimeoutMS=500, retryWrites=False) as client:
                client.admin.command("ping")
            return
        except PyMongoError as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"store at {url} did not answer: {last}")


def start_store(
    *, data_dir: str | Path, port: int, log_file: str | Path | None = None, cache_size: str = "256M"
) -> subprocess.Popen[bytes]:
    """Start `secantusd-py` on 127.0.0.1:`port` with data under `data_dir` (":memory:" for a
    throwaway store). Returns once it answers a ping."""
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
