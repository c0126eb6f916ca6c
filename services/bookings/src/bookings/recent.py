"""A few seconds' memory of resource and location documents for the booking hot path.

Only rules and opening hours are read from here; whether the resource is still active is
checked inside the booking transaction (its calendar mirrors `active`). A change made
through this process is seen at once; one made through another replica within `TTL_S`.
"""

from __future__ import annotations

import time
from typing import Any

from bookings.resource import rules_of
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.problems import Problem

TTL_S = 5.0
_docs: dict[tuple[int, str, str], tuple[float, dict[str, Any]]] = {}


async def _get(svc: Service, collection: str, doc_id: str) -> dict[str, Any] | None:
    key = (id(svc), collection, doc_id)
    hit = _docs.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < TTL_S:
        return hit[1]
    doc = await svc.store.db[collection].find_one({"_id": doc_id})
    if doc is not None:
        if len(_docs) > 10_000:
            _docs.clear()
        _docs[key] = (now, doc)
    return doc


def forget(svc: Service, collection: str, doc_id: str) -> None:
    _docs.pop((id(svc), collection, doc_id), None)


async def resource(svc: Service, resource_id: str, principal: Principal) -> dict[str, Any]:
    doc = await _get(svc, "resources", resource_id)
    if doc is None:
        raise Problem(404, "Not found", f"No resource {resource_id}.", field="resource_id")
    if principal.municipality not in rules_of(doc).allowed_municipalities:
        ensure_municipality(principal, doc["municipality"])
    return doc


async def location(svc: Service, location_id: str) -> dict[str, Any]:
    doc = await _get(svc, "locations", location_id)
    if doc is None:
        raise Problem(404, "Not found", f"No location {location_id}.", field="location_id")
    return doc
