"""Resident memory of each installed service process when idle (target: under 150 MB),
with the interpreter running an empty loop as the same-run baseline.

Each service is started as its own process (`kohtaamo run <name>`) on a private vhost and
a fresh store, waited for until /readyz answers, left idle, then its VmRSS is read."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, write

from kit import registry
from kit.localstore import free_port

LIMIT_MB = 150
IDLE_S = 5


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    figures: dict[str, dict[str, float | bool]] = {}
    baseline = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(1)
    base_mb = rss_mb(baseline.pid)
    baseline.kill()
    with environment() as env:
        for name in registry.installed():
            port = free_port()
            process_env = {
                **os.environ,
                "KOHTAAMO_AMQP_URL": env["amqp_url"],
                "KOHTAAMO_MONGO_URL": env["mongo_url"],
                "KOHTAAMO_MONGO_DB_PREFIX": f"mem{env['run']}_",
                "KOHTAAMO_PSEUDONYM_KEY": "bench-only-pseudonym-key",
                "KOHTAAMO_KEY_ENCRYPTION_SECRET": "bench-only-key-secret",
                "KOHTAAMO_LOG_LEVEL": "WARNING",
            }
            process = subprocess.Popen(
                [sys.executable, "-m", "kit.cli", "run", name, "--port", str(port)],
                env=process_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        if (
                            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
                            == 200
                        ):
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.5)
                time.sleep(IDLE_S)
                mb = rss_mb(process.pid)
                figures[name] = {
                    "rss_mb": round(mb, 1),
                    "under_limit": mb < LIMIT_MB,
                    "ratio": round(mb / base_mb, 2),
                }
            finally:
                process.terminate()
                process.wait(30)
    write(
        "service_memory",
        {
            "limit_mb": LIMIT_MB,
            "baseline_bare_interpreter_mb": round(base_mb, 1),
            "services": figures,
        },
    )


if __name__ == "__main__":
    main()
