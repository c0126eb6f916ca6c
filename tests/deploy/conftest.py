"""Helpers for the deployment tests: the repository's deploy files, and RabbitMQ vhosts and
users of this test run on the local broker (created fresh, removed at the end)."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = DEPLOY / "k8s" / "overlays"
SERVICES = ("identity", "events", "bookings", "notifications", "analytics", "gateway")


def load_apply() -> ModuleType:
    """deploy/rabbitmq/apply.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "kohtaamo_apply", DEPLOY / "rabbitmq" / "apply.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        pytest.skip("rabbitmqctl is not installed")
    return subprocess.run(
        [exe, "-q", *args], check=check, capture_output=True, text=True, timeout=60
    )


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        time.sleep(0.2)


def policies(vhost: str) -> dict[str, str]:
    """Queue name -> the policy RabbitMQ applies to it ('' when none)."""
    out = ctl("list_queues", "-p", vhost, "--no-table-headers", "name", "policy").stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return {row[0]: (row[1] if len(row) > 1 else "") for row in rows}


class Broker:
    """Vhosts and users made by this run; all removed by the fixture's teardown."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.vhosts: list[str] = []
        self.users: list[str] = []

    def vhost(self, label: str) -> str:
        name = f"kohtaamo-deploy-{label}-{self.run}"
        ctl("add_vhost", name)
        self.vhosts.append(name)
        return name

    def user(self, name: str) -> str:
        """A run-unique name for a user a site file declares (users are broker-wide)."""
        unique = f"{name}-{self.run}"
        self.users.append(unique)
        return unique

    def load(self, definitions: dict[str, Any]) -> None:
        """Import and wait until the asynchronous import has created what it lists."""
        apply = load_apply()
        apply.import_definitions(definitions)
        for vh in definitions["vhosts"]:
            wanted = {p["name"] for p in definitions["policies"] if p["vhost"] == vh["name"]}
            wait_for(
                lambda vh=vh, wanted=wanted: (
                    wanted
                    <= set(
                        line.split("\t")[1]
                        for line in ctl(
                            "list_policies", "-p", vh["name"], "--no-table-headers"
                        ).stdout.splitlines()
                        if "\t" in line
                    )
                ),
                what=f"policies in {vh['name']}",
            )

    def cleanup(self) -> None:
        # Side by side: each rabbitmqctl call starts an Erlang VM, which is most of its cost.
        exe = shutil.which("rabbitmqctl") or "rabbitmqctl"
        calls = [["delete_vhost", vh] for vh in self.vhosts]
        calls += [["delete_user", user] for user in self.users]
        running = [
            subprocess.Popen(
                [exe, "-q", *call], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for call in calls
        ]
        for process in running:
            process.wait(120)


@pytest.fixture
def broker() -> Iterator[Broker]:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    made = Broker()
    try:
        yield made
    finally:
        made.cleanup()


def site_definitions(
    site_file: Path,
    broker: Broker,
    *,
    vhost: str,
    passwords: dict[str, str],
    env: dict[str, str] | None = None,
    federation: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    """A site's rendered definitions for a test vhost, its users renamed run-unique and
    given passwords. Returns the definitions and the map site user -> test user."""
    apply = load_apply()
    site = apply.load(site_file)
    names = {u["name"]: broker.user(u["name"]) for u in site.get("users", [])}
    values = dict(env or {})
    for user in site.get("users", []):
        values[user["password_env"]] = passwords[user["name"]]
    if not federation:
        site = {**site, "upstreams": [], "federation": []}
    definitions = apply.render(site, vhost=vhost, env=values)
    for entry in definitions["users"]:
        entry["name"] = names[entry["name"]]
    for entry in definitions["permissions"]:
        entry["user"] = names[entry["user"]]
    return definitions, names


@functools.cache
def render(site: str) -> list[dict[str, Any]]:
    """A site's Kubernetes overlay rendered with kustomize (no cluster needed); once per
    run (the tests only read it)."""
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        command = [kubectl, "kustomize", str(OVERLAYS / site)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(OVERLAYS / site)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed")
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_config(docs: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    """The ConfigMap settings a deployment's container gets, later sources winning."""
    configs = by_kind(docs, "ConfigMap")
    [container] = by_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    merged: dict[str, str] = {}
    for source in container.get("envFrom", []):
        merged.update(configs[source["configMapRef"]["name"]]["data"])
    return merged
