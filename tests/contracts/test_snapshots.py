"""Contract snapshots: the JSON schema of the envelope and of every published payload
version is kept in `contracts/snapshots/`. A published version may only change
additively (new optional fields); anything else needs a new version side by side.

Refresh after an additive change with KOHTAAMO_UPDATE_SNAPSHOTS=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from contracts import CloudEvent
from contracts.catalog import breaking_changes, published_types

SNAPSHOTS = Path(__file__).parents[2] / "contracts" / "snapshots"
UPDATE = os.environ.get("KOHTAAMO_UPDATE_SNAPSHOTS") == "1"


def schemas() -> dict[str, dict[str, Any]]:
    found = {"envelope.cloudevent": CloudEvent.model_json_schema()}
    for type_, model in published_types().items():
        found[type_] = model.model_json_schema()
    return found


@pytest.mark.parametrize("name", sorted(schemas()))
def test_schema_matches_snapshot(name: str) -> None:
    schema = schemas()[name]
    path = SNAPSHOTS / f"{name}.json"
    if UPDATE or not path.exists():
        assert UPDATE, f"no snapshot for {name}: run with KOHTAAMO_UPDATE_SNAPSHOTS=1 and commit it"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    snapshot = json.loads(path.read_text())
    breaking = breaking_changes(snapshot, schema)
    assert not breaking, f"{name}: breaking change {breaking}; publish a new version instead"
    assert schema == snapshot, f"{name} changed additively: refresh the snapshot and commit it"


def test_every_snapshot_still_has_its_model() -> None:
    """Removing a published version is a breaking change."""
    names = set(schemas())
    orphans = [p.stem for p in SNAPSHOTS.glob("*.json") if p.stem not in names]
    assert not orphans, f"snapshots without a model: {orphans}"


def test_additive_only_rule_is_checked() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert (
        breaking_changes(old, {**old, "properties": {**old["properties"], "c": {"type": "string"}}})
        == []
    )
    assert breaking_changes(old, {"properties": {"a": {"type": "string"}}, "required": ["a"]}) == [
        "removed field b"
    ]
    assert breaking_changes(old, {**old, "required": ["a", "b"]}) == ["newly required field b"]
    assert breaking_changes(
        old, {**old, "properties": {**old["properties"], "b": {"type": "string"}}}
    ) == ["changed type of b"]
    # A string that becomes a string enum (a $ref to its definition) is the same on the wire.
    to_enum = {"$ref": "#/$defs/Status"}
    string_enum = {"Status": {"enum": ["x", "y"], "type": "string"}}
    as_enum = {**old, "properties": {**old["properties"], "a": to_enum}, "$defs": string_enum}
    assert breaking_changes(old, as_enum) == []
    int_enum = {"Status": {"enum": [1, 2], "type": "integer"}}
    assert breaking_changes(old, {**as_enum, "$defs": int_enum}) == ["changed type of a"]
