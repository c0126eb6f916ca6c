"""Every published event type of every service, and the additive-change rule."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pydantic import BaseModel

import contracts
from contracts.registry import all_types
from contracts.topology import SERVICES


def published_types() -> dict[str, type[BaseModel]]:
    """Import every `contracts.<service>` module and return the types they register."""
    for module in pkgutil.iter_modules(contracts.__path__):
        if module.name in SERVICES:
            importlib.import_module(f"contracts.{module.name}")
    # Only contract modules' own models: a test may register a type of its own.
    return {
        t: m
        for t, m in all_types().items()
        if t.split(".")[1] in SERVICES and m.__module__.startswith("contracts.")
    }


def _type(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A field's JSON type; through a `$ref` (an enum's definition), the referenced one's: a
    string field that becomes a string enum keeps its type on the wire."""
    ref = spec.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}).get("type")
    return spec.get("type")


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in `new` breaks consumers of `old` (top-level fields of a JSON schema)."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"removed field {name}")
        elif _type(old, spec) != _type(new, new_props[name]):
            problems.append(f"changed type of {name}")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"newly required field {name}")
    return problems
