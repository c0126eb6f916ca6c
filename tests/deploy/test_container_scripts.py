"""The image's entry point and health check, run as the container would run them but on
this machine (no Docker engine needed): `entrypoint.sh <service>` starts the service with
the image's environment, and healthcheck.py answers 0 for /healthz and /readyz while it
serves and 1 once it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kit import localstore
from kit.testing import trust_env

from .conftest import DEPLOY, ROOT

ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"
HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"


def health(path: str, env: dict[str, str]) -> int:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), path], env=env, capture_output=True, timeout=30
    ).returncode


@pytest.mark.broker
@pytest.mark.store
def test_entrypoint_runs_a_service_and_healthcheck_follows_it(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    settings = make_settings("pingsvc")
    port = localstore.free_port()
    env = {
        **os.environ,
        # What the Dockerfile sets, with a free port instead of 8080.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "tests" / "apps"),
        "KOHTAAMO_HOST": "127.0.0.1",
        "KOHTAAMO_PORT": str(port),
        "KOHTAAMO_LOG_FORMAT": "json",
        "KOHTAAMO_RUN": "pingservice:build",
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        **trust_env(settings),  # the run's broker users and site key
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
    }
    # No argument and no KOHTAAMO_RUN: a usage error, not a crash loop on a default.
    bare = {k: v for k, v in env.items() if k != "KOHTAAMO_RUN"}
    assert subprocess.run(["sh", str(ENTRYPOINT)], env=bare, capture_output=True).returncode == 64
    # An operator command passes through to the kohtaamo CLI.
    listed = subprocess.run(
        ["sh", str(ENTRYPOINT), "dlq", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "replay" in listed.stdout  # the dlq group's help, not `kohtaamo run dlq`

    assert health("/healthz", env) == 1  # nothing listens yet
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 45
        while health("/readyz", env) != 0:
            assert process.poll() is None, (tmp_path / "service.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "service never became ready"
            time.sleep(0.5)
        assert health("/healthz", env) == 0
        # `exec` in the entry point: the service is the process the runtime signals.
        assert "kohtaamo" in Path(f"/proc/{process.pid}/cmdline").read_text()
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    # Stopped gracefully on SIGTERM (uvicorn re-raises the signal once it has shut down).
    assert '"service.stopped"' in (tmp_path / "service.log").read_text()
    assert health("/healthz", env) == 1
