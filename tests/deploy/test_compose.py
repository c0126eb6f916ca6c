"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the compose file
is interpolated and merged as compose does, then validated by a Compose Specification
parser; every service's environment is fed to that service's own settings class."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from compose_spec import PyCompose

from kit.broker_users import connection_user, permissions, user_name
from kit.settings import KitSettings

from .conftest import DEPLOY, ROOT, SERVICES

INFRA = ("rabbitmq", "mongo", "redis", "mailpit")


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, with an empty environment."""
    env = env or {}

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        return env.get(name) or (default if default is not None else "")

    return re.sub(r"\$\{([A-Za-z0-9_]+)(:?-([^}]*))?\}", value, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"\$\{[^}]*:\?", raw), "no variable may be required for a local run"
    data: dict[str, Any] = yaml.safe_load(interpolate(raw))  # merge keys applied here
    return data


def test_compose_file_is_valid_compose_specification(compose: dict[str, Any]) -> None:
    parsed = PyCompose.from_yaml(yaml.safe_dump(compose))
    parsed.validate()
    assert set(parsed.service_names()) == {*SERVICES, *INFRA, "seed", "broker-users"}


def test_every_service_is_the_one_image_with_profile_and_readiness_check(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in (*SERVICES, "seed")}
    assert len(images) == 1
    for name in SERVICES:
        svc = services[name]
        assert svc["command"] == [name]
        assert svc["build"]["context"] == "."
        assert {"all", name} <= set(svc["profiles"])
        assert svc["healthcheck"]["test"][-1] == "/readyz"
        for infra in ("rabbitmq", "mongo"):
            assert svc["depends_on"][infra]["condition"] == "service_healthy"
        for other, dep in svc["depends_on"].items():
            assert other in services
            # A profile that leaves a service out must not stop the ones that use it.
            if other in SERVICES:
                assert dep.get("required") is False
    for name, svc in services.items():
        limits = svc["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name
    for infra in INFRA:
        assert "profiles" not in services[infra]
        assert services[infra]["healthcheck"]["test"]
    dotenv = (ROOT / ".env").read_text()
    assert re.search(r"^COMPOSE_PROFILES=all$", dotenv, re.M)


def test_rabbitmq_gets_plugins_config_and_definitions(compose: dict[str, Any]) -> None:
    rabbit = compose["services"]["rabbitmq"]
    mounts = {
        v.split(":")[1]: ROOT / v.split(":")[0] for v in rabbit["volumes"] if v.startswith(".")
    }
    for target, source in mounts.items():
        assert source.is_file(), f"{source} mounted at {target} does not exist"
    plugins = mounts["/etc/rabbitmq/enabled_plugins"].read_text()
    for plugin in ("rabbitmq_management", "rabbitmq_prometheus", "rabbitmq_federation"):
        assert plugin in plugins
    conf = mounts["/etc/rabbitmq/conf.d/20-kohtaamo.conf"].read_text()
    # The definitions (and so the users) come from the broker-users container's volume,
    # rendered before the broker starts: no guest user, no password in the repository.
    assert "definitions.local.path = /etc/rabbitmq/kohtaamo/definitions.json" in conf
    assert "broker-users:/etc/rabbitmq/kohtaamo:ro" in rabbit["volumes"]
    assert rabbit["depends_on"]["broker-users"]["condition"] == "service_completed_successfully"
    users = compose["services"]["broker-users"]
    assert users["command"][1:] == [
        "/deploy/apply.py", "compose", "/deploy/local.site.json", "--out", "/broker-users"
    ]  # fmt: skip
    assert {"./deploy/rabbitmq:/deploy:ro", "broker-users:/broker-users"} == set(users["volumes"])
    assert "password" not in json.dumps(rabbit).replace("/password", "")
    # RabbitMQ 4.x (3.13 is out of community support).
    assert re.fullmatch(r"rabbitmq:4\.\d+-management", rabbit["image"]), rabbit["image"]
    mongo = compose["services"]["mongo"]
    assert "--replSet" in mongo["command"]
    assert "replicaSet=rs0" in compose["x-kohtaamo-env"]["KOHTAAMO_MONGO_URL"]


def test_every_service_connects_as_its_own_broker_user(compose: dict[str, Any]) -> None:
    """Each service's AMQP URL names its own user (never guest, never one shared user),
    with no password in it; its password file is its own directory of the broker-users
    volume; that user is in the broker's site file with exactly the kit's permissions."""
    site = json.loads((DEPLOY / "rabbitmq" / "local.site.json").read_text())
    site_users = {u["name"]: u for u in site["users"]}
    granted = {p["user"]: p for p in site["permissions"]}
    prefix = KitSettings.model_fields["broker_user_prefix"].default
    seen = set()
    for service in SERVICES:
        env = compose["services"][service]["environment"]
        url = urlsplit(env["KOHTAAMO_AMQP_URL"])
        user = user_name(prefix, service)
        assert url.username == user and url.password is None, service
        assert url.hostname == "rabbitmq"
        [mount] = [
            v
            for v in compose["services"][service]["volumes"]
            if isinstance(v, dict) and v["source"] == "broker-users"
        ]
        # Only its own password: the volume's directory of its user, read-only.
        assert mount["volume"]["subpath"] == user and mount["read_only"] is True
        assert env["KOHTAAMO_AMQP_PASSWORD_FILE"] == mount["target"] + "/password"
        assert site_users[user]["password_env"] and "password_hash" not in site_users[user]
        assert site_users[user]["tags"] == []  # no management rights
        wanted = permissions(service)._asdict()
        assert {k: granted[user][k] for k in wanted} == wanted, service
        seen.add(user)
    assert len(seen) == len(SERVICES) and "guest" not in site_users
    # Every user of the broker is a service's, or the operators' administrator.
    assert set(site_users) == seen | {"kohtaamo"}
    # The seeders declare queues and publish as each service: every password, read-only.
    seed = compose["services"]["seed"]
    assert seed["environment"]["KOHTAAMO_BROKER_PASSWORDS_DIR"] + ":ro" in [
        v.removeprefix("broker-users:") for v in seed["volumes"]
    ]
    assert urlsplit(seed["environment"]["KOHTAAMO_AMQP_URL"]).username is None


def settings_class(service: str) -> type[KitSettings]:
    module = importlib.import_module(f"{service}.settings")
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, KitSettings) and c is not KitSettings and c.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{service}.settings: {classes}"
    return classes[0]


@pytest.mark.parametrize("service", SERVICES)
def test_service_settings_load_from_its_compose_environment(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("KOHTAAMO_"):
            monkeypatch.delenv(key)
    env = compose["services"][service]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    # The password the broker-users container generated, here a file of the test's own.
    secret = tmp_path / "password"
    secret.write_text(f"generated-for-{service}\n")
    monkeypatch.setenv("KOHTAAMO_AMQP_PASSWORD_FILE", str(secret))
    # Construction fails on a missing required setting (analytics' pseudonym key).
    settings = settings_class(service)(service=service)
    services = compose["services"]
    amqp = urlsplit(settings.amqp_url.get_secret_value())
    assert amqp.hostname == "rabbitmq"
    assert connection_user(settings.amqp_url.get_secret_value()) == f"kohtaamo-{service}"
    assert amqp.password == f"generated-for-{service}"
    assert urlsplit(settings.mongo_url.get_secret_value()).hostname == "mongo"
    assert settings.http_port() == 8080 and settings.environment == "development"
    # One site with both demo municipalities' data: every consumer acts on both.
    assert settings.municipalities == ["helsinki", "kouvola"]
    identity = urlsplit(settings.identity_url)
    assert identity.hostname == "identity" and identity.port == 8080
    assert settings.mongo_kind == "mongodb"  # retryable writes, the driver's pool
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    if service == "gateway":
        # The gateway is the edge; its replicas share their limits in Redis.
        assert settings.trusted_proxies == []
        storage = urlsplit(settings.rate_limit_storage)  # type: ignore[attr-defined]  # the gateway's own settings
        assert storage.scheme == "redis" and storage.hostname in services
    else:
        assert settings.trusted_proxies == [subnet]  # the gateway's network
    if service == "notifications":
        assert settings.smtp_host == "mailpit" and settings.smtp_port == 1025  # type: ignore[attr-defined]  # the gateway's own settings
    if service == "gateway":
        routed = settings.upstreams.deployed()  # type: ignore[attr-defined]  # the gateway's own settings
        assert set(routed) == set(SERVICES) - {"gateway"}
        for name, url in routed.items():
            assert urlsplit(url).hostname == name and urlsplit(url).port == 8080
            assert name in services


def test_dockerfile_builds_every_workspace_member_non_root_with_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    members = [
        p.relative_to(ROOT).as_posix()
        for pattern in workspace["members"]
        for p in sorted(ROOT.glob(pattern))
        if (p / "pyproject.toml").is_file()
    ]
    assert members
    for member in members:
        # The dependency layer needs every member's manifest, or `uv export --frozen` fails.
        assert f"COPY {member}/pyproject.toml {member}/" in dockerfile, member
    # The production set that tests/deploy/test_dependencies.py checks, and nothing else.
    assert "uv export --frozen --no-dev --no-emit-workspace" in dockerfile
    assert "uv sync" not in dockerfile and "--extra" not in dockerfile
    # Any UID in group 0 (OpenShift); the default one numeric for runAsNonRoot.
    assert re.search(r"^USER 10001:0$", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*healthcheck\.py", dockerfile, re.M)
    assert dockerfile.count("FROM ") == 2  # build and runtime stages
    for script in re.findall(r"COPY (deploy/docker/\S+) (deploy/docker/\S+) /app/", dockerfile)[0]:
        assert (ROOT / script).is_file()
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("contracts", "services", "deploy/docker", "uv.lock", "pyproject.toml"):
        assert needed not in ignored
    assert Path(ROOT / "deploy" / "docker" / "entrypoint.sh").stat().st_mode & 0o111
