"""Every endpoint of every installed service refuses a bad token: expired, tampered,
signed by an untrusted issuer, or without a municipality. Apart from public endpoints
(those that answer an anonymous call with 2xx, such as published event listings), none of
them answers 2xx or 5xx, whatever the path parameters and body."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kit import registry
from kit.testing import TestIssuer, service_env

OPEN = {
    "/healthz",
    "/readyz",
    "/readyz/consumers",
    "/metrics",
    "/.well-known/jwks.json",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}


def bad_tokens(trusted: TestIssuer) -> dict[str, str]:
    stranger = TestIssuer("https://identity.evil.example")
    valid = trusted.token(roles=["admin", "staff", "analyst"])
    header, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    claims["municipality"] = "kouvola"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return {
        "expired": trusted.token(roles=["admin", "staff"], exp_in=-120),
        "tampered": f"{header}.{forged}.{signature}",
        "untrusted-issuer": stranger.token(roles=["admin", "staff", "analyst"]),
        "no-municipality": trusted.token(roles=["admin"], municipality=""),
        "garbage": "not.a.token",
    }


def operations(app: Any) -> list[tuple[str, str]]:
    found = []
    for path, item in app.openapi()["paths"].items():
        if path in OPEN:
            continue
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((method.upper(), path))
    return found


def concrete(path: str) -> str:
    # Any value for path parameters: the token must be refused before anything is looked up.
    import re

    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


@pytest.mark.parametrize("name", [n for n in registry.installed() if n != "gateway"])
async def test_bad_tokens_refused_everywhere(
    name: str,
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    make_vhost: Callable[..., str],
) -> None:
    # A vhost of its own: session-long services of other suites consume the same queue
    # names in the run's main vhost and would take this service's messages.
    amqp_url = make_vhost(f"tokens-{name}", "function")
    for key, value in service_env(make_settings(name, amqp_url=amqp_url)).items():
        monkeypatch.setenv(key, value)
    svc = registry.load_factory(name)()
    trusted = TestIssuer()
    svc.verifier.trust(trusted.issuer, trusted.jwks)
    app = svc.create_app()
    ops = operations(app)
    assert ops, f"{name} has no endpoints?"
    await svc.start()
    failures = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            public = set()
            for method, path in ops:
                anonymous = await client.request(
                    method, concrete(path), json={} if method != "GET" else None
                )
                assert anonymous.status_code < 500, f"{method} {path} -> {anonymous.status_code}"
                if anonymous.status_code < 400:
                    public.add((method, path))
            assert len(public) < len(ops), f"everything in {name} is public?"
            for label, token in bad_tokens(trusted).items():
                for method, path in ops:
                    if (method, path) in public:
                        continue
                    response = await client.request(
                        method,
                        concrete(path),
                        json={} if method != "GET" else None,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if response.status_code < 400 or response.status_code >= 500:
                        failures.append(f"{label}: {method} {path} -> {response.status_code}")
    finally:
        await svc.stop()
    assert not failures, "\n".join(failures)
