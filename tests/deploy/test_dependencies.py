"""What a production image installs: each service's dependency set as the Dockerfile builds
it (`uv export --no-dev --package kohtaamo-<service>`), checked for GPL/AGPL licences and
for development-only packages (the embedded store, the supervisor, the SMTP catcher and
anything of the dev group). Licences come from the installed packages' metadata (the
development environment holds every production package)."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import tomllib
from functools import cache

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT, SERVICES

# GPL or AGPL (any version), in an SPDX expression, a licence field or a classifier; LGPL
# (linking is fine for these Python packages) is not matched.
_COPYLEFT = re.compile(r"(?<![\w-])A?GPL|GNU (Affero )?General Public License", re.I)
# Dependencies of development-only packages that no production package needs either.
_DEV_TRANSITIVE = {"shapely", "s2sphere"}


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert os.path.exists(found), "uv not found (make setup installs it into .tools/)"
    return found


@cache
def production_set(service: str | None) -> list[Requirement]:
    """The packages an image of `service` (None: every service) installs, this platform's."""
    command = [uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-header"]
    command += ["--no-annotate", "--no-emit-workspace"]
    command += ["--package", f"kohtaamo-{service}"] if service else ["--all-packages"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    requirements = [Requirement(line) for line in out.splitlines() if line.strip()]
    return [r for r in requirements if r.marker is None or r.marker.evaluate()]


def development_only() -> set[str]:
    """The packages of every `local` extra (the platform on one machine), the dev group's
    that no service declares for itself, and their own dependencies nothing else uses."""
    local: list[str] = []
    declared: set[str] = set()
    for manifest in (ROOT / "services").glob("*/pyproject.toml"):
        project = tomllib.loads(manifest.read_text())["project"]
        local += project.get("optional-dependencies", {}).get("local", [])
        declared |= {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    group = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    names = {canonicalize_name(Requirement(e).name) for e in local} | _DEV_TRANSITIVE
    names |= {canonicalize_name(Requirement(e).name) for e in group} - declared
    return {name for name in names if not name.startswith("kohtaamo-")}


def licence(name: str) -> str:
    meta = metadata.metadata(name)
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    first_line = (meta.get("License") or "").strip().split("\n", 1)[0]
    return " | ".join(filter(None, [meta.get("License-Expression"), first_line, *classifiers]))


def copyleft(name: str) -> bool:
    return bool(_COPYLEFT.search(licence(name)))


def test_the_check_recognises_what_it_must_refuse() -> None:
    # SecantusDB (the embedded store, GPL-2.0) is installed for development: the licence
    # check must flag it, and it must count as development-only.
    assert copyleft("secantusdb")
    assert {"secantusdb", "honcho", "aiosmtpd", "pytest", "ruff"} <= development_only()
    assert not copyleft("redis") and not copyleft("pymongo")


@pytest.mark.parametrize("service", [*SERVICES, None], ids=[*SERVICES, "all"])
def test_production_dependencies_are_permissive_and_not_for_development(
    service: str | None,
) -> None:
    packages = {canonicalize_name(r.name) for r in production_set(service)}
    assert "pymongo" in packages and "uvicorn" in packages  # the export worked
    dev = packages & development_only()
    assert not dev, f"development-only packages in the production set: {sorted(dev)}"
    refused = {name: licence(name) for name in sorted(packages) if copyleft(name)}
    assert not refused, f"GPL/AGPL in the production set: {refused}"
