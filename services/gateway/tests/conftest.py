"""Fixtures: small real upstream processes, and gateways built on per-test settings and
served in this process (started and stopped around each test)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.main import GatewayService
from gateway.settings import GatewaySettings, Upstreams
from kit import localstore
from kit import platform as kit_platform
from kit.platform import Platform
from kit.testing import TestIssuer
from kit.trace_receiver import TraceReceiver

APPS = Path(__file__).parent / "apps"


def wait_http(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class EchoProcess:
    """An echo upstream as a real uvicorn process on a free port."""

    def __init__(self, service: str, prefix: str | None = None, port: int | None = None) -> None:
        self.service = service
        self.prefix = prefix or service
        self.port = port or localstore.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> EchoProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(APPS),
            "ECHO_SERVICE": self.service,
            "ECHO_PREFIX": self.prefix,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "echo_upstream:app",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        if wait:
            self.wait()
        return self

    def wait(self) -> None:
        wait_http(self.url + "/readyz", self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def hits(self) -> int:
        return int(httpx.get(self.url + "/__hits").json()["count"])


@pytest.fixture(scope="session")
def echoes() -> Iterator[dict[str, EchoProcess]]:
    procs = {
        "identity": EchoProcess("identity", "auth"),
        "events": EchoProcess("events"),
        "bookings": EchoProcess("bookings"),
    }
    try:
        for proc in procs.values():
            proc.start(wait=False)  # start together: each takes a while to import
        for proc in procs.values():
            proc.wait()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.fixture
def spawn_echo() -> Iterator[Callable[..., EchoProcess]]:
    """Start (and at the end stop) an extra echo upstream: `spawn_echo("events", port=p)`."""
    started: list[EchoProcess] = []

    def spawn(service: str, port: int | None = None) -> EchoProcess:
        proc = EchoProcess(service, port=port).start()
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        proc.stop()


@pytest.fixture
def spawn_gateways() -> Iterator[Callable[[int, dict[str, str]], list[str]]]:
    """Start `count` gateway processes (`kohtaamo run gateway`) with extra environment,
    together (each takes a while to import); yields their base URLs once all answer."""
    started: list[subprocess.Popen[bytes]] = []

    def spawn(count: int, env: dict[str, str]) -> list[str]:
        urls = []
        for _ in range(count):
            port = localstore.free_port()
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "kit.cli", "run", "gateway", "--port", str(port)],
                    env={**os.environ, "KOHTAAMO_LOG_LEVEL": "WARNING", **env},
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, started[-count:], strict=True):
            wait_http(url + "/healthz", process, timeout=60)
        return urls

    yield spawn
    for process in started:
        process.terminate()
    for process in started:
        process.wait(15)


@pytest.fixture
def partner_issuer(tmp_path: Path) -> Iterator[tuple[TestIssuer, str]]:
    """A partner's issuer whose JWKS is served by its own process; yields it and the URL."""
    partner = TestIssuer("https://identity.kouvola.example")
    key_file = tmp_path / "partner.pem"
    key_file.write_bytes(
        partner.keys["k1"].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = localstore.free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(APPS),
        "PARTNER_ISSUER": partner.issuer,
        "PARTNER_KEY_FILE": str(key_file),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "partner_issuer:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    try:
        wait_http(url, process)
        yield partner, url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def trace_receiver() -> Iterator[TraceReceiver]:
    """A real OTLP/HTTP receiver the platform's processes export their spans to."""
    with TraceReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def platform(
    make_settings: Callable[..., Any],
    make_vhost: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
    trace_receiver: TraceReceiver,
) -> Iterator[Platform]:
    """The real services as processes with a gateway process in front (kit.platform),
    tracing on (OTLP export to `trace_receiver`): the journeys run as in production with
    an exporter, and test_tracing reads their spans."""
    # Its own vhost: these processes live for the session and consume the same queue
    # names as other tests' in-process services.
    settings = make_settings("platform", amqp_url=make_vhost("platform"))
    gateway_env = {
        "KOHTAAMO_RATE_LIMIT_CLIENT": "100000/minute",
        "KOHTAAMO_RATE_LIMIT_USER": "100000/minute",
        "KOHTAAMO_RATE_LIMIT_AUTH": "1000/minute",
    }
    running = kit_platform.start_for(
        settings,
        tmp_path_factory.mktemp("platform"),
        gateway_env=gateway_env,
        env=trace_receiver.env(),
    )
    try:
        yield running
    finally:
        kit_platform.stop(running)


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def dead_url() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{localstore.free_port()}"


GatewayFactory = Callable[..., Any]


@pytest.fixture
def make_gateway(make_settings: Callable[..., Any], issuer: TestIssuer) -> GatewayFactory:
    """`async with make_gateway(upstreams={...}, **settings) as (client, svc):` — a started
    gateway with generous limits unless told otherwise, trusting the test issuer."""

    @asynccontextmanager
    async def make(
        upstreams: dict[str, str | None], **overrides: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, GatewayService]]:
        values: dict[str, Any] = {
            "rate_limit_client": "10000/minute",
            "rate_limit_user": "10000/minute",
            "rate_limit_auth": "10000/minute",
            "trust_own_identity": False,
            **overrides,
        }
        full = {name: None for name in Upstreams.model_fields} | upstreams
        # The gateway needs neither broker nor store, so no per-run vhost or database.
        settings = GatewaySettings(upstreams=Upstreams(**full), log_format="json", **values)
        svc = GatewayService(settings)
        svc.verifier.trust(issuer.issuer, issuer.jwks)
        app = svc.create_app()
        await svc.start()
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
                yield client, svc
        finally:
            await svc.stop()

    return make
