"""Schemathesis over every installed service's own OpenAPI document (the gateway's
aggregated document has its own suite, services/gateway/tests/test_fuzz.py).

Each service runs in this process against the run's broker and store, with its demo data
seeded, served over HTTP by uvicorn. Generated requests to every operation, as a helsinki
staff member and as a helsinki resident, must never get a 5xx, and every answer must be
documented: its status code, its media type, its headers and its body's schema. Valid
requests go to random ids and, where the path names seeded documents, to those; invalid
requests (negative mode) must be refused with a documented 4xx. Bounded and repeatable: a
few derandomized examples per pass (`KOHTAAMO_FUZZ_EXAMPLES` raises the number for a longer
exploration)."""

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
INVALID_INPUT_CALLER = "resident"

pytestmark = pytest.mark.timeout(300)


def callers(issuer: TestIssuer, subjects: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        role: issuer.headers(sub=sub, roles=[role], municipality="helsinki", exp_in=3600)
        for role, sub in subjects.items()
    }


async def seeded_subjects(svc: Any) -> dict[str, str]:
    """Seeded helsinki accounts for the callers where the service keeps accounts (identity),
    so that its own-account operations reach past "no such user"; fixed subjects elsewhere,
    so that what one request creates the next may find ("mine" lists)."""
    found = {"staff": "fuzz-staff", "resident": "fuzz-resident"}
    for role in found:
        user = await svc.store.db["users"].find_one({"municipality": "helsinki", "roles": [role]})
        if user is not None:
            found[role] = str(user["_id"])
    return found


class Fuzzer:
    """Runs the examples of one operation; blocking (hypothesis), so it runs in a thread
    while the service answers in the test's event loop."""

    def __init__(
        self, base_url: str, who: dict[str, dict[str, str]], known: dict[str, str]
    ) -> None:
        self.base_url = base_url
        self.who = who
        self.known = known  # path parameter -> a seeded document's id
        self.statuses: Counter[int] = Counter()
        self.failures: dict[str, str] = {}
        self.without_invalid: set[str] = set()
        self.on_seeded: set[str] = set()

    def passes(
        self, operation: Any, caller: str
    ) -> list[tuple[str, GenerationMode, int, dict[str, str] | None]]:
        names = [p.name for p in operation.path_parameters]
        seeded = bool(names) and all(n in self.known for n in names)
        # Random ids reach only the 404 path: one of those, and valid requests on seeded
        # documents. Invalid input is refused before the caller matters: one caller.
        found: list[tuple[str, GenerationMode, int, dict[str, str] | None]] = [
            ("random", GenerationMode.POSITIVE, 1 if seeded else EXAMPLES, None)
        ]
        if seeded:
            path = {n: self.known[n] for n in names}
            found.append(("seeded", GenerationMode.POSITIVE, EXAMPLES, path))
            self.on_seeded.add(operation.label)
        if caller == INVALID_INPUT_CALLER:
            found.append(("random", GenerationMode.NEGATIVE, max(1, EXAMPLES - 1), None))
        return found

    def run(self, operation: Any) -> None:
        for caller, headers in self.who.items():
            for kind, mode, examples, path in self.passes(operation, caller):
                label = f"{operation.label} as {caller}, {mode.value}, {kind} ids"
                try:
                    self._examples(operation, mode, examples, headers, path)()
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
        self,
        operation: Any,
        mode: GenerationMode,
        examples: int,
        headers: dict[str, str],
        path: dict[str, str] | None,
    ) -> Callable[[], None]:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
        def check(case: Any) -> None:
            response = case.call_and_validate(
                base_url=self.base_url, headers=headers, checks=CHECKS, timeout=30
            )
            self.statuses[response.status_code] += 1

        return check  # type: ignore[no-any-return]  # hypothesis' @given is untyped


async def seeded_ids(svc: Any, names: set[str]) -> dict[str, str]:
    """A helsinki document's id for each path parameter named after a collection of the
    service (`event_id` -> events), and helsinki for the municipality ones."""
    collections = set(await svc.store.db.list_collection_names())
    known = {n: "helsinki" for n in names & {"municipality", "slug"}}
    for name in names:
        stem = name.removesuffix("_id")
        found = [c for c in (stem, f"{stem}s", f"{stem}es") if c in collections]
        if stem == name or not found:
            continue
        docs = svc.store.db[found[0]]
        doc = await docs.find_one({"municipality": "helsinki"}) or await docs.find_one({})
        if doc is not None:
            known[name] = str(doc["_id"])
    return known


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
    name: str,
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    make_vhost: Callable[..., str],
) -> None:
    # A vhost of its own: session-long services of other suites consume the same queue
    # names in the run's main vhost and would take this service's messages.
    amqp_url = make_vhost(f"fuzz-{name}", "function")
    for key, value in service_env(make_settings(name, amqp_url=amqp_url)).items():
        monkeypatch.setenv(key, value)
    svc = registry.load_factory(name)()
    # Tokens as the site's identity issues them: identity serves own-account operations
    # only to its own tokens.
    issuer = TestIssuer(svc.settings.identity_url.rstrip("/"))
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    app = svc.create_app()
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 3, f"{name} documents only its health endpoints?"

    await svc.start()
    seed = registry.seeder(name)
    if seed is not None:
        await seed(svc)
    names = {p.name for op in operations for p in op.path_parameters}
    server, task, base_url = await serve(app)
    who = callers(issuer, await seeded_subjects(svc))
    fuzzer = Fuzzer(base_url, who, await seeded_ids(svc, names))
    try:
        for operation in operations:
            await asyncio.to_thread(fuzzer.run, operation)
    finally:
        server.should_exit = True
        await task
        await svc.stop()

    assert not fuzzer.failures, "\n\n".join(f"{k}:\n{v}" for k, v in fuzzer.failures.items())
    assert len(fuzzer.without_invalid) < len(operations), "no invalid request generated"
    if seed is not None:
        assert fuzzer.on_seeded, f"no operation of {name} was tried on seeded documents"
    calls = sum(fuzzer.statuses.values())
    print(
        f"{name}: {len(operations)} operations ({len(fuzzer.on_seeded)} also on seeded ids), "
        f"{calls} requests, statuses {dict(sorted(fuzzer.statuses.items()))}"
    )
    assert calls >= len(operations) * 3, fuzzer.statuses  # two callers, valid and invalid
    # The generated requests reached past validation and authorization somewhere.
    assert any(200 <= s < 300 for s in fuzzer.statuses), fuzzer.statuses
    assert 422 in fuzzer.statuses, fuzzer.statuses  # the invalid ones were refused as such
