"""Fixtures for analytics tests: a started service on the real broker and store, a token
issuer, and helpers to feed a known stream of events through RabbitMQ."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

# Test helpers (the known event stream) sit beside the tests; importlib mode does not put
# this folder on the path, so do it here. The module name is unique across services.
sys.path.insert(0, str(Path(__file__).parent))
from analytics_stream import KEY

from analytics.main import service as build_service
from analytics.settings import AnalyticsSettings
from contracts import CloudEvent
from kit.app import Service
from kit.testing import TestIssuer, eventually, publish_as_producer


class Harness:
    """A started analytics service, its HTTP client and a way to feed events."""

    def __init__(self, svc: Service, client: httpx.AsyncClient, issuer: TestIssuer) -> None:
        self.svc = svc
        self.client = client
        self.issuer = issuer
        self.fed = 0

    @property
    def db(self) -> Any:
        return self.svc.store.db

    async def feed(self, events: list[CloudEvent], *, facts_expected: int | None = None) -> None:
        """Publish to the producers' exchanges on the real broker; wait until every event
        is a fact (the consumers have stored it)."""
        await publish_as_producer(self.svc.settings, *events)
        self.fed += len(events) if facts_expected is None else facts_expected
        target = self.fed

        async def stored() -> bool:
            return await self.db.facts.count_documents({}) >= target

        await eventually(stored, timeout=60)

    def headers(
        self, municipality: str = "helsinki", roles: list[str] | None = None
    ) -> dict[str, str]:
        return self.issuer.headers(municipality=municipality, roles=roles or ["staff"])

    async def get(
        self, path: str, params: dict[str, str] | None = None, *,
        municipality: str = "helsinki", roles: list[str] | None = None,
    ) -> httpx.Response:  # fmt: skip
        """GET as a user of `municipality` with `roles` (default staff)."""
        return await self.client.get(path, params=params, headers=self.headers(municipality, roles))

    async def report(
        self, name: str, period: str, scope: str | None = None, **user: Any
    ) -> dict[str, Any]:
        params = {"period": period, **({"municipality": scope} if scope else {})}
        response = await self.get(f"/analytics/reports/{name}", params, **user)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def table(report: dict[str, Any], name: str, column: str | None = None) -> dict[str, Any]:
    """A report table as {first column: value of `column` (default: the second)}."""
    for t in report["tables"]:
        if t["name"] == name:
            i = t["columns"].index(column) if column else 1
            return {row[0]: row[i] for row in t["rows"]}
    raise KeyError(name)


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
def analytics_settings(make_settings: Callable[..., Any]) -> Callable[..., AnalyticsSettings]:
    def make(**overrides: Any) -> AnalyticsSettings:
        made: AnalyticsSettings = make_settings(
            "analytics", cls=AnalyticsSettings, pseudonym_key=KEY, **overrides
        )
        return made

    return make


async def start_harness(settings: AnalyticsSettings, issuer: TestIssuer) -> tuple[Harness, Any]:
    svc = build_service(settings)
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    app = svc.create_app()
    await svc.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return Harness(svc, client, issuer), client


@pytest.fixture
async def harness(
    analytics_settings: Callable[..., AnalyticsSettings], issuer: TestIssuer
) -> AsyncIterator[Harness]:
    """A fresh service with its own database, for tests that need an empty fact store."""
    h, client = await start_harness(analytics_settings(), issuer)
    try:
        yield h
    finally:
        await client.aclose()
        await h.svc.stop()
