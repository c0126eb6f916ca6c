"""The AsyncAPI documents in docs/asyncapi/ are generated from the code and kept as
artefacts: each must equal what `kohtaamo asyncapi` generates now. Regenerate with
`make docs` after changing a service's consumers or a contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit import registry
from kit.asyncapi import specification

DOCS = Path(__file__).parents[2] / "docs" / "asyncapi"


@pytest.mark.parametrize("name", registry.installed())
def test_asyncapi_document_is_current(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings a service requires at construction; no connection is made.
    monkeypatch.setenv("KOHTAAMO_PSEUDONYM_KEY", "docs-only")
    monkeypatch.setenv("KOHTAAMO_KEY_ENCRYPTION_SECRET", "docs-only")
    generated = specification(registry.load_factory(name)())
    path = DOCS / f"{name}.json"
    assert path.exists(), f"missing {path}: run `make docs`"
    assert json.loads(path.read_text()) == generated, f"{path} is stale: run `make docs`"
