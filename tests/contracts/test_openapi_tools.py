"""The API contract checked by the tools a frontend or partner uses (issue 24), on every
service's OpenAPI document and the gateway's aggregated one, built here without
infrastructure (npm tools installed by `make contract-tools`, pinned by
tests/contracts/tools/package-lock.json):

- Spectral's OpenAPI ruleset (tests/contracts/tools/.spectral.yaml) finds no errors;
- openapi-typescript generates types from the aggregated document, and tsc type-checks a
  client script against them (tests/contracts/client/client.ts: a list, a creation, an
  error); the same script fails once the list's answer is documented as a bare object."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
TOOLS = HERE / "tools"
BIN = TOOLS / "node_modules" / ".bin"
pytestmark = [pytest.mark.timeout(300), pytest.mark.build]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("node"), "node is not installed"
    assert BIN.is_dir(), "the contract tools are not installed: make contract-tools"
    env = {**os.environ, "SCARF_ANALYTICS": "false", "NO_COLOR": "1"}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def documents(
    openapi_documents: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Every service's document and the aggregated one, as files."""
    out = tmp_path_factory.mktemp("openapi")
    paths = {}
    for name, doc in openapi_documents.items():
        paths[name] = out / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths


def test_spectral_finds_no_errors_nor_warnings(documents: dict[str, Path], tmp_path: Path) -> None:
    # One run for all (Spectral starts slowly), with a broken document that must fail.
    broken = json.loads(documents["events"].read_text())
    operations = [op for item in broken["paths"].values() for op in item.values()]
    operations[1]["operationId"] = operations[0]["operationId"]
    operations[2].pop("description", None)
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(broken))
    done = run(
        BIN / "spectral", "lint", "-r", TOOLS / ".spectral.yaml", "-f", "json", "-q",
        *documents.values(), bad, cwd=tmp_path,
    )  # fmt: skip
    results = json.loads(done.stdout or "[]")
    errors = [r for r in results if r["severity"] == 0]
    assert {Path(r["source"]).name for r in errors} == {"broken.json"}, json.dumps(errors)[:3000]
    assert any(r["code"] == "operation-operationId-unique" for r in errors)
    # No warnings either (descriptions, tags, servers, contact): none may come back.
    warnings = [
        r for r in results if r["severity"] == 1 and Path(r["source"]).name != "broken.json"
    ]
    assert warnings == [], json.dumps(warnings)[:3000]
    # ...and the check can fail: the broken document, which also lacks a description, warns.
    assert any(r["severity"] == 1 and Path(r["source"]).name == "broken.json" for r in results), (
        "the broken document should have warned"
    )


def test_typescript_client_type_checks_and_an_untyped_answer_breaks_it(
    documents: dict[str, Path], tmp_path: Path
) -> None:
    aggregated = json.loads(documents["aggregated"].read_text())
    untyped = json.loads(json.dumps(aggregated))
    listing = untyped["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
    listing["application/json"]["schema"] = {"type": "object"}
    for variant, doc in (("typed", aggregated), ("untyped", untyped)):
        folder = tmp_path / variant
        folder.mkdir()
        (folder / "openapi.json").write_text(json.dumps(doc))
        made = run(BIN / "openapi-typescript", "openapi.json", "-o", "api.d.ts", cwd=folder)
        assert made.returncode == 0, made.stderr[-3000:]
        shutil.copy(HERE / "client" / "client.ts", folder / "client.ts")
    checked = run(
        BIN / "tsc", "--noEmit", "--strict", "--target", "es2022", "--module", "esnext",
        "--moduleResolution", "bundler", "--lib", "es2022,dom", "--pretty", "false",
        "typed/client.ts", "untyped/client.ts", cwd=tmp_path,
    )  # fmt: skip
    errors = [line for line in checked.stdout.splitlines() if ": error TS" in line]
    assert errors, "the untyped answer should have broken the client"
    assert all(line.startswith("untyped/") for line in errors), "\n".join(errors)
    # The list's use is what broke (`page.items` of an untyped page).
    lines = (HERE / "client" / "client.ts").read_text().splitlines()
    at = next(i for i, line in enumerate(lines, 1) if "page.items.map" in line)
    assert any(line.startswith(f"untyped/client.ts({at},") for line in errors), errors
