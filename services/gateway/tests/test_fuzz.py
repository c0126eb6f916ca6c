"""Schemathesis against the gateway's aggregated OpenAPI document, with every real service
running behind it as a process: generated requests (anonymous and as a signed-in
resident) to every operation must never get a 5xx, and every answer must be documented:
its status code, media type, headers and body schema (the services document their own
answers, kit.openapi their problem+json ones, the aggregator the gateway's). Bounded: a
few examples per operation. Each service's own document is fuzzed more deeply, in process,
by tests/robustness/test_schemathesis.py."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.timeout(900)
EXAMPLES = 3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def resident_headers(gateway: str) -> dict[str, str]:
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.fi"
    password = "correct horse battery staple"
    with httpx.Client(base_url=gateway, timeout=30) as client:
        client.post(
            "/api/v1/auth/signup",
            json={
                "municipality": "helsinki",
                "email": email,
                "password": password,
                "display_name": "Fuzz",
                "accept_terms": True,
            },
        ).raise_for_status()
        login = client.post(
            "/api/v1/auth/login",
            json={"municipality": "helsinki", "email": email, "password": password},
        )
        login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def fuzz(operation: Any, gateway: str, headers: dict[str, str], calls: dict[str, int]) -> Any:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        calls["n"] += 1
        case.headers = {**(case.headers or {}), **headers}
        case.call_and_validate(
            base_url=gateway,
            checks=CHECKS,
            timeout=30,
        )

    return check


def test_aggregated_api_fuzz(platform: Any) -> None:
    schema = schemathesis.openapi.from_url(platform.gateway + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50  # every service's routed operations are in the document
    headers = resident_headers(platform.gateway)
    failures: dict[str, str] = {}
    calls = {"n": 0}

    for operation in operations:
        # As a resident for most operations; anonymously for every tenth, so both the
        # services' own 401s and their signed-in answers are checked.
        as_user = sum(operation.label.encode()) % 10 != 0
        try:
            fuzz(operation, platform.gateway, headers if as_user else {}, calls)()
        except BaseException as exc:  # schemathesis raises exception groups
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures[operation.label] = str(exc)[:1500]
    assert calls["n"] >= len(operations)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
