"""Every request body of every service, as its OpenAPI document states it, is strict and
bounded: objects take no unknown fields, every string has a maxLength, every array a
maxItems and every mapping a maxProperties. A new route whose model is not a
kit.requests.Strict (or lacks a bound) fails here, naming the place."""

from __future__ import annotations

from typing import Any

import pytest

from kit import registry

REF = "#/components/schemas/"


def loose(
    schema: dict[str, Any], components: dict[str, Any], where: str, seen: set[str]
) -> list[str]:
    found: list[str] = []
    ref = schema.get("$ref")
    if ref:
        name = ref.removeprefix(REF)
        if name in seen:
            return []
        seen.add(name)
        return loose(components[name], components, name, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += loose(option, components, where, seen)
    kind = schema.get("type")
    if kind == "string" and "maxLength" not in schema and "enum" not in schema:
        if "format" not in schema and "const" not in schema:
            found.append(f"{where}: a string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"{where}: an array without maxItems")
        found += loose(schema.get("items", {}), components, f"{where}[]", seen)
    if kind == "object":
        extra = schema.get("additionalProperties", True)
        patterns = list(schema.get("patternProperties", {}).values())
        if patterns and "properties" not in schema:
            extra = patterns[0]  # keys by a pattern: a mapping
        if "properties" in schema and extra is not False:
            found.append(f"{where}: an object that takes unknown fields")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                found.append(f"{where}: a mapping without maxProperties")
            found += loose(extra, components, f"{where}{{}}", seen)
        elif extra is True and "properties" not in schema:
            found.append(f"{where}: an object of anything")
        for name, prop in schema.get("properties", {}).items():
            found += loose(prop, components, f"{where}.{name}", seen)
    return found


@pytest.mark.parametrize("name", registry.installed())
def test_every_request_body_is_strict_and_bounded(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings a service requires at construction; no connection is made.
    monkeypatch.setenv("KOHTAAMO_PSEUDONYM_KEY", "docs-only")
    monkeypatch.setenv("KOHTAAMO_KEY_ENCRYPTION_SECRET", "docs-only")
    document = registry.load_factory(name)().create_app().openapi()
    components = document.get("components", {}).get("schemas", {})
    problems: list[str] = []
    bodies = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            for media, body in content.items():
                if "json" not in media:
                    continue
                bodies += 1
                where = f"{method.upper()} {path}"
                problems += [f"{where}: {p}" for p in loose(body["schema"], components, "", set())]
    assert not problems, "\n".join(problems)
    if name in ("bookings", "events", "identity", "notifications"):
        assert bodies > 0  # the walk saw the service's bodies
