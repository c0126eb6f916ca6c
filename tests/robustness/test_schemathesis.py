"""Schemathesis over every installed service's own OpenAPI document (the gateway's
aggregated document has its own suite, services/gateway/tests/test_fuzz.py).

Each service runs in this process against the run's broker and store, with its demo data
seeded, served over HTTP by uvicorn. Generated requests to every operation, valid ones and
invalid ones, as a helsinki staff member and as a helsinki resident, must never get a 5xx,
and every answer must be documented: its status code, its media type, its headers and its
body's schema. Bounded and repeatable: a few derandomized examples per operation, mode and
caller (`KOHTAAMO_FUZZ_EXAMPLES` raises the number for a longer exploration)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kit import registry
from kit.testing import TestIssuer, service_env

SERVICES = [n for n in registry.installed() if n != "gateway"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("KOHTAAMO_FUZZ_EXAMPLES", "3"))
MODES = {GenerationMode.POSITIVE: EXAMPLES, GenerationMode.NEGATIVE: max(1, EXAMPLES - 1)}

pytestmark = pytest.mark.timeout(300)


def callers(issuer: TestIssuer) -> dict[str, dict[str, str]]:
    # Fixed subjects, so what one request creates the next may find ("mine" lists).
    return {
        "staff": issuer.headers(
            sub="fuzz-staff", roles=["staff"], municipality="helsinki", exp_in=3600
        ),
        "resident": issuer.headers(
            sub="fuzz-resident", roles=["resident"], municipality="helsinki", exp_in=3600
        ),
    }


class Fuzzer:
    """Runs the examples of one operation; blocking (hypothesis), so it runs in a thread
    while the service answers in the test's event loop."""

    def __init__(self, base_url: str, who: dict[str, dict[str, str]]) -> None:
        self.base_url = base_url
        self.who = who
        self.statuses: Counter[int] = Counter()
        self.failures: dict[str, str] = {}
        self.without_invalid: set[str] = set()

    def run(self, operation: Any) -> None:
        for caller, headers in self.who.items():
            for mode, examples in MODES.items():
                label = f"{operation.label} as {caller}, {mode.value}"
                try:
                    self._examples(operation, mode, examples, headers)()
                except Unsatisfiable:
                    # Nothing invalid can be generated for it (no parameters, or only free
                    # strings); its valid requests are still checked.
                    if mode is GenerationMode.POSITIVE:
                        raise
                    self.without_invalid.add(operation.label)
                except BaseException as exc:  # schemathesis raises exception groups
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    self.failures[label] = str(exc)[:2000]

    def _examples(
        self, operation: Any, mode: GenerationMode, examples: int, headers: dict[str, str]
    ) -> Callable[[], None]:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call_and_validate(
                base_url=self.base_url, headers=headers, checks=CHECKS, timeout=30
            )
            self.statuses[response.status_code] += 1

        return check  # type: ignore[no-any-return]


async def serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("name", SERVICES)
async def test_service_api_fuzz(
    name: str, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, amqp_url: str
) -> None:
    for key, value in service_env(make_settings(name, amqp_url=amqp_url)).items():
        monkeypatch.setenv(key, value)
    svc = registry.load_factory(name)()
    issuer = TestIssuer()
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    app = svc.create_app()
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 3, f"{name} documents only its health endpoints?"

    await svc.start()
    seed = registry.seeder(name)
    if seed is not None:
        await seed(svc)
    server, task, base_url = await serve(app)
    fuzzer = Fuzzer(base_url, callers(issuer))
    try:
        for operation in operations:
            await asyncio.to_thread(fuzzer.run, operation)
    finally:
        server.should_exit = True
        await task
        await svc.stop()

    assert not fuzzer.failures, "\n\n".join(f"{k}:\n{v}" for k, v in fuzzer.failures.items())
    assert len(fuzzer.without_invalid) < len(operations), "no invalid request generated"
    calls = sum(fuzzer.statuses.values())
    assert calls >= len(operations) * len(MODES) * 2, fuzzer.statuses
    # The generated requests reached past validation and authorization somewhere.
    assert any(200 <= s < 300 for s in fuzzer.statuses), fuzzer.statuses
    assert 422 in fuzzer.statuses, fuzzer.statuses  # the invalid ones were refused as such
