"""The OpenAPI documents of every installed service and the gateway's aggregated one,
built once for the contract tests (no infrastructure: apps are built, not started)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from gateway.openapi import merge, own_document
from gateway.routes import RouteTable
from gateway.settings import DEFAULT_ROUTES
from kit import registry


@pytest.fixture(scope="session")
def openapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's document by name, the gateway's own operations as `gateway`, and
    `aggregated`: what the gateway serves at /api/v1/openapi.json with every service up."""
    # Settings a service requires at construction; no connection is made.
    os.environ.setdefault("KOHTAAMO_PSEUDONYM_KEY", "docs-only")
    os.environ.setdefault("KOHTAAMO_KEY_ENCRYPTION_SECRET", "docs-only")
    docs: dict[str, dict[str, Any]] = {}
    gateway_own: dict[str, Any] = {}
    for name in registry.installed():
        svc = registry.load_factory(name)()
        app = svc.create_app()
        if name == "gateway":  # its own operations, as gateway.main builds them
            gateway_own = own_document(
                app, title=svc.title, version=svc.version, description=svc.description
            )
        else:
            docs[name] = app.openapi()
    aggregated = merge(gateway_own, docs, RouteTable(DEFAULT_ROUTES))
    return {**docs, "gateway": gateway_own, "aggregated": aggregated}
