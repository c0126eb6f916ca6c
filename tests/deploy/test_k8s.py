"""Kubernetes manifests: each site's overlay is rendered with kustomize (kubectl's built-in,
no cluster needed), every object is validated strictly against the Kubernetes schemas, and
the deployment rules are checked on the rendered output: probes, limits, non-root,
autoscaler and disruption budget per service, secrets only by reference, and the site's
settings accepted by each service's own settings class."""

from __future__ import annotations

import importlib
import inspect
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from kit.settings import KitSettings

from .conftest import DEPLOY, SERVICES, by_kind, pod_config, render

K8S_VERSION = "1.30.0"
SITES = {
    "helsinki": set(SERVICES),
    "kouvola": {"events", "bookings", "notifications", "gateway"},
}
HELSINKI_ISSUER = "https://identity.kohtaamo.helsinki.example"


# Consumer services that scale on their queues' depth (KEDA ScaledObject).
QUEUE_SCALED = {"notifications", "analytics"}


def services_of(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Kohtaamo services' Deployments (not the site's Redis)."""
    return {k: v for k, v in by_kind(docs, "Deployment").items() if k in SERVICES}


@pytest.fixture(scope="module", params=sorted(SITES))
def site(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


# Custom resources (KEDA, the Prometheus operator): kubernetes-validate has no schemas for
# them offline; their content is checked against the code below instead.
CUSTOM = ("keda.sh/", "monitoring.coreos.com/")


def test_every_object_is_valid_against_the_kubernetes_schema(
    site: tuple[str, list[dict[str, Any]]],
) -> None:
    name, docs = site
    assert docs
    for doc in docs:
        if not doc["apiVersion"].startswith(CUSTOM):
            # strict: unknown fields (a typo such as `readinesProbe`) are errors too.
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == f"kohtaamo-{name}"


def test_site_runs_its_services_each_with_service_pdb_and_autoscaler(
    site: tuple[str, list[dict[str, Any]]],
) -> None:
    name, docs = site
    deployments = services_of(docs)
    assert set(deployments) == SITES[name]
    assert set(by_kind(docs, "Deployment")) == SITES[name] | {"redis"}
    services, pdbs, hpas, scaled = (
        by_kind(docs, k)
        for k in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject")
    )
    for svc_name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert services[svc_name]["spec"]["selector"].items() <= labels.items()
        assert pdbs[svc_name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # Consumers scale on queue depth (KEDA owns their autoscaler), the rest on CPU.
        if svc_name in QUEUE_SCALED:
            assert svc_name not in hpas
            spec = scaled[svc_name]["spec"]
            assert spec["scaleTargetRef"] == {"name": svc_name}
            low, high = spec["minReplicaCount"], spec["maxReplicaCount"]
        else:
            hpa = hpas[svc_name]["spec"]
            assert hpa["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": svc_name,
            }
            low, high = hpa["minReplicas"], hpa["maxReplicas"]
        # A budget that allows a drain needs at least two replicas to keep one serving.
        assert low >= 2 and high > low
        assert deployment["spec"]["replicas"] >= 2


def test_containers_have_probes_limits_and_run_as_non_root(
    site: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = site
    for name, deployment in services_of(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        assert container["args"] == [name]
        assert re.fullmatch(r"[\w./-]+/kohtaamo:[\w.-]+", container["image"]), container["image"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][section]), (name, section)
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts  # writable scratch space despite the read-only root


def secret_keys(docs: list[dict[str, Any]]) -> dict[str, bool]:
    """Secret key -> optional, for every secretKeyRef in the site's pods."""
    keys: dict[str, bool] = {}
    for deployment in services_of(docs).values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                assert ref is not None, f"{env['name']} must come from the secret"
                assert ref["name"] == "kohtaamo-secrets"
                keys[ref["key"]] = ref.get("optional", False)
    return keys


def read_env_file(path: Path) -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return {k: v for k, v in pairs}


def test_secrets_are_referenced_never_shipped(site: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = site
    assert not by_kind(docs, "Secret")
    keys = secret_keys(docs)
    example = read_env_file(DEPLOY / "sites" / name / "secrets.env.example")
    assert set(keys) == set(example), "secrets.env.example must list exactly the keys pods use"
    for key, value in example.items():
        assert "CHANGE_ME" in value, f"{key} in secrets.env.example holds a value"
    for config in by_kind(docs, "ConfigMap").values():
        for key in config["data"]:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", key), f"{key} is a secret"
    assert ("pseudonym-key" in keys) == ("analytics" in SITES[name] or "identity" in SITES[name])


def settings_class(service: str) -> type[KitSettings]:
    module = importlib.import_module(f"{service}.settings")
    [cls] = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, KitSettings) and c is not KitSettings and c.__module__ == module.__name__
    ]
    return cls


# The municipalities each site's services act on (the rest of what federation brings is
# ignored); Helsinki's identity is Kouvola's too, so it takes Kouvola's erasure answers.
SERVED = {
    ("helsinki", "identity"): ["helsinki", "kouvola"],
}


def test_each_service_accepts_the_site_configuration(
    site: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    site_name, docs = site
    secrets = read_env_file(DEPLOY / "sites" / site_name / "secrets.env.example")
    for service in SITES[site_name]:
        for key in list(os.environ):
            if key.startswith("KOHTAAMO_"):
                monkeypatch.delenv(key)
        for key, value in pod_config(docs, service).items():
            monkeypatch.setenv(key, value)
        # What the pods get from the secret, placeholders standing in for the values.
        # Each service logs in as its own broker user (kit.broker_users).
        amqp_url = secrets[f"amqp-url-{service}"]
        assert urlsplit(amqp_url).username == f"kohtaamo-{service}"
        monkeypatch.setenv("KOHTAAMO_AMQP_URL", amqp_url)
        monkeypatch.setenv("KOHTAAMO_MONGO_URL", secrets["mongo-url"])
        if "pseudonym-key" in secrets:
            monkeypatch.setenv("KOHTAAMO_PSEUDONYM_KEY", secrets["pseudonym-key"])
        settings = settings_class(service)(service=service)
        assert settings.municipality == site_name
        assert settings.municipalities == SERVED.get((site_name, service), [site_name]), service
        assert settings.environment == "production" and settings.log_format == "json"
        # Helsinki's identity issues the tokens at both sites.
        assert [i.issuer for i in settings.issuers()] == [HELSINKI_ISSUER]
        assert settings.issuers()[0].jwks_url == HELSINKI_ISSUER + "/.well-known/jwks.json"
        # Signed events: this site runs what it says; its partner speaks only through the
        # services it runs and for the municipalities it serves.
        assert settings.site_name() == site_name
        assert service in settings.site_services
        assert set(settings.site_services) == SITES[site_name]
        [partner] = settings.event_signers
        assert partner.site != site_name and partner.jwks_url.endswith("/event-keys.json")
        assert ("identity" in partner.services) == (site_name == "kouvola")
        if service == "gateway":
            routed = settings.upstreams.deployed()  # type: ignore[attr-defined]  # the gateway's own settings
            assert set(routed) == set(SERVICES) - {"gateway"}
            local = {s for s, url in routed.items() if url == f"http://{s}"}
            # In-cluster upstreams are exactly the services this site runs.
            assert local == SITES[site_name] - {"gateway"}


def test_kustomizations_reference_existing_files() -> None:
    for path in sorted((DEPLOY / "k8s").rglob("kustomization.yaml")):
        data = yaml.safe_load(path.read_text())
        for ref in data.get("resources", []):
            assert (path.parent / ref).exists(), f"{path}: {ref}"
        for generator in data.get("configMapGenerator", []):
            for env in generator.get("envs", []):
                assert (path.parent / env).is_file(), f"{path}: {env}"
