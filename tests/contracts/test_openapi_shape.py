"""The shape of every service's OpenAPI document (issue 24): named operation ids, unique in
the gateway's aggregated document too, and a typed schema for every JSON 2xx answer (a
generated client gets no bare `object`). No infrastructure: the documents are built from
the installed services' apps."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from kit import registry

REF = "#/components/schemas/"
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def document(openapi_documents: dict[str, dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    return openapi_documents.__getitem__


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


@pytest.mark.parametrize("name", registry.installed())
def test_operation_ids_are_named_after_the_service(
    name: str, document: Callable[[str], dict[str, Any]]
) -> None:
    ids = [op["operationId"] for _, _, op in operations(document(name))]
    pattern = re.compile(rf"^{name}(\.[a-z0-9_-]+){{1,2}}$")
    assert [i for i in ids if not pattern.match(i)] == []
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_operation_ids_unique_across_services(document: Callable[[str], dict[str, Any]]) -> None:
    ids = Counter(op["operationId"] for _, _, op in operations(document("aggregated")))
    assert [i for i, n in ids.items() if n > 1] == []
    names = {n for n in registry.installed() if n != "gateway"}
    routed = {i.split(".")[0] for i in ids}
    assert names <= routed  # every service's operations are in the aggregated document


def untyped(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """An answer a generated client could not type: no schema, `{}`, or an object that
    names no properties (a bare `object`, `dict[str, Any]`)."""
    ref = schema.get("$ref")
    if ref:
        return untyped(components[ref.removeprefix(REF)], components)
    if not schema:
        return True
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf")
        return any(untyped(o, components) for o in options if o.get("type") != "null")
    if schema.get("type") == "array":
        return untyped(schema.get("items", {}), components)
    if schema.get("type") == "object" and "properties" not in schema:
        values = schema.get("additionalProperties")
        return not isinstance(values, dict) or untyped(values, components)
    return False


@pytest.mark.parametrize("name", [*registry.installed(), "aggregated"])
def test_every_json_answer_is_typed(name: str, document: Callable[[str], dict[str, Any]]) -> None:
    doc = document(name)
    components = doc.get("components", {}).get("schemas", {})
    found = []
    for path, method, op in operations(doc):
        for code, answer in op["responses"].items():
            if not code.startswith("2"):
                continue
            for media, content in (answer.get("content") or {}).items():
                if "json" in media and untyped(content.get("schema") or {}, components):
                    found.append(f"{method.upper()} {path} {code} {media}")
    assert found == []


def test_the_typed_answer_check_can_fail() -> None:
    components = {"Page": {"type": "object", "properties": {"items": {"type": "array"}}}}
    assert untyped({"type": "object"}, components)
    assert untyped({"type": "object", "additionalProperties": True}, components)
    assert untyped({"type": "array", "items": {}}, components)
    assert not untyped({"$ref": REF + "Page"}, components)
    assert not untyped(
        {"type": "object", "additionalProperties": {"$ref": REF + "Page"}}, components
    )


@pytest.mark.parametrize("service", ["identity", "events", "bookings", "analytics"])
def test_each_audit_log_is_in_the_aggregated_document(
    service: str, document: Callable[[str], dict[str, Any]]
) -> None:
    """Each service's audit log (kit.audit) at /api/v1/audit/<service>: read and export,
    typed, and no operation that changes it."""
    paths = document("aggregated")["paths"]
    listing = paths[f"/api/v1/audit/{service}"]
    exported = paths[f"/api/v1/audit/{service}/export"]
    assert set(listing) == {"get"} and set(exported) == {"get"}
    assert listing["get"]["operationId"] == f"{service}.audit.list"
    assert exported["get"]["operationId"] == f"{service}.audit.export"
    page = listing["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["$ref"].endswith("Page_AuditEntry_")
    assert set(exported["get"]["responses"]["200"]["content"]) >= {"text/csv"}
    names = {p["name"] for p in listing["get"]["parameters"]}
    assert {"actor", "action", "object_kind", "object_id", "from", "to", "limit", "offset"} <= names
