"""The image's build stage (all services; a per-service image's set is checked by
test_dependencies.py), run on this machine as the Dockerfile says (no container engine
here): its COPY and RUN steps in order, with the image's paths moved under a temporary
directory and `.dockerignore` applied. What it installs must run every service, and must
not hold the development-only packages. A runtime dependency declared only in the dev
group, or a Dockerfile step that no longer works with the lockfile, fails here rather than
in a city's build pipeline."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, SERVICES
from .test_dependencies import uv

DOCKERFILE = ROOT / "Dockerfile"


def build_stage() -> list[tuple[str, str]]:
    """(instruction, arguments) of the first stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    steps: list[tuple[str, str]] = []
    stages = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages += 1
            if stages > 1:
                break
            continue
        steps.append((word.upper(), rest.strip()))
    return steps


def ignored(relative: str) -> bool:
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = relative.split("/")
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, bare) for part in parts):
                return True
        elif fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/"):
            return True
    return False


def copy(sources: list[str], dest: Path) -> None:
    for source in sources:
        origin = ROOT / source
        if origin.is_dir():
            for path in origin.rglob("*"):
                relative = path.relative_to(ROOT).as_posix()
                if path.is_file() and not ignored(relative) and "node_modules" not in relative:
                    target = dest / path.relative_to(origin)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
        else:
            assert not ignored(source), source
            target = dest / origin.name if dest.is_dir() or str(dest).endswith("/") else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def run_build(root: Path, service: str = "") -> Path:
    """The build stage under `root` (its /src and /app); returns the virtual environment."""
    moved = {"/src": str(root / "src"), "/app": str(root / "app")}

    def move(value: str) -> str:
        for image_path, here in moved.items():
            value = re.sub(rf"(?<![\w.]){re.escape(image_path)}(?=/|\b|$)", here, value)
        return value

    env = {**os.environ, "PATH": f"{Path(uv()).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    overrides = {"UV_COMPILE_BYTECODE": "0"}  # start-up speed only; halves this test's time
    workdir = root
    makefile_uv = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M)
    for instruction, arguments in build_stage():
        if instruction == "ARG":
            name, _, default = arguments.partition("=")
            value = service if name == "SERVICE" else shlex.split(default or "''")[0]
            if name == "UV_VERSION":
                # The image's uv is the one the Makefile (and so this test) uses.
                assert makefile_uv is not None and value == makefile_uv.group(1)
            env[name] = value
        elif instruction == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                env[name] = overrides.get(name, move(value))
        elif instruction == "WORKDIR":
            workdir = Path(move(arguments))
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = shlex.split(arguments)
            target = workdir / dest if not dest.startswith("/") else Path(move(dest))
            if dest.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            copy(sources, target)
        elif instruction == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", arguments)
            if re.search(r"pip install .*uv==", command):
                continue  # uv itself: the Makefile's, checked above to be the same version
            done = subprocess.run(
                ["sh", "-c", move(command)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        else:
            raise AssertionError(f"the test does not know the instruction {instruction}")
    return root / "app" / ".venv"


def python_in(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOHTAAMO_", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = ""
    # Built, not started: no store is asked, and the secrets a service refuses to start
    # without are given (development values).
    env |= {
        "KOHTAAMO_ENVIRONMENT": "development",
        "KOHTAAMO_MONGO_KIND": "mongodb",
        "KOHTAAMO_PSEUDONYM_KEY": "image-test-pseudonym-key",
        "KOHTAAMO_KEY_ENCRYPTION_SECRET": "image-test-key-encryption-secret",
    }
    return subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=venv.parent,
    )


@pytest.mark.build
@pytest.mark.timeout(900)
def test_the_build_stage_installs_every_service_and_no_development_tools(
    tmp_path: Path,
) -> None:
    venv = run_build(tmp_path)
    # Every service's composition root builds its app from the image's packages alone.
    build_all = "; ".join(
        f"import {name}.main as m{n}; m{n}.service().create_app()"
        for n, name in enumerate(SERVICES)
    )
    built = python_in(venv, build_all)
    assert built.returncode == 0, built.stderr[-3000:]
    listed = subprocess.run(
        [str(venv / "bin" / "kohtaamo"), "services"], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    for name in SERVICES:
        assert name in listed.stdout
    for development_only in ("secantus", "honcho", "aiosmtpd", "pytest"):
        missing = python_in(venv, f"import {development_only}")
        assert missing.returncode != 0, f"{development_only} is in the production image"
    # Our own packages are installed, not linked to the sources.
    where = python_in(venv, "import kit, events; print(kit.__file__); print(events.__file__)")
    assert where.returncode == 0 and str(venv) in where.stdout and "/src/" not in where.stdout
