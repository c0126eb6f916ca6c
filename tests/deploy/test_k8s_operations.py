"""The operational parts of each site's rendered manifests, checked against the code they
name: OpenShift-safe pods (no fixed UID), a NetworkPolicy for every workload, the
ServiceMonitor and alert rules on metrics the services really export, KEDA scaling on
queues the consumers really declare, Jobs that run commands that exist, and the settings
for real MongoDB, trusted proxy networks and shared limits."""

from __future__ import annotations

import copy
import importlib
import inspect
import ipaddress
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from prometheus_client import REGISTRY

import gateway.breaker  # noqa: F401  (registers the gateway's metrics)
import kit.metrics  # noqa: F401  (registers the services' metrics)
import notifications.metrics  # noqa: F401  (registers the notices' metrics)

from .conftest import ROOT, SERVICES, by_kind, pod_config, render

SITES = ("helsinki", "kouvola")


@pytest.fixture(scope="module", params=SITES)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    pods = {
        f"deploy/{n}": d["spec"]["template"]["spec"] for n, d in by_kind(docs, "Deployment").items()
    }
    for name, job in by_kind(docs, "CronJob").items():
        pods[f"cronjob/{name}"] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pods


def test_pods_run_as_any_uid_non_root(docs: list[dict[str, Any]]) -> None:
    # OpenShift's restricted SCC assigns the UID and refuses a fixed one.
    for name, pod in pod_specs(docs).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for context in [
            pod["securityContext"],
            *(c.get("securityContext", {}) for c in pod["containers"]),
        ]:
            assert "runAsUser" not in context and "runAsGroup" not in context, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name


def test_every_workload_has_its_network_policy(docs: list[dict[str, Any]]) -> None:
    policies = by_kind(docs, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    for name, deployment in by_kind(docs, "Deployment").items():
        selector = policies[name]["spec"]["podSelector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for name in set(by_kind(docs, "Deployment")) - {"gateway", "identity"}:
        # Only the gateway (and Prometheus from its namespace) may call a service or Redis.
        sources = [s for rule in policies[name]["spec"]["ingress"] for s in rule["from"]]
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}} in sources
        assert {"namespaceSelector": {}} not in sources, name


def exported_metrics() -> set[str]:
    """Every metric name the services' code registers (also those not yet observed)."""
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        names.update(sample.name for sample in family.samples)
    return names


def test_monitoring_scrapes_every_service_and_alerts_on_real_metrics(
    docs: list[dict[str, Any]],
) -> None:
    [monitor] = by_kind(docs, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["endpoints"]
    for name, service in by_kind(docs, "Service").items():
        if name in SERVICES:
            assert selector.items() <= service["metadata"]["labels"].items(), name
            assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    [rules] = by_kind(docs, "PrometheusRule").values()
    alerts = {r["alert"]: r for group in rules["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "KohtaamoOutboxLagging",
        "KohtaamoDeadLetters",
        "KohtaamoConsumerStuck",
        "KohtaamoHttp5xx",
        "KohtaamoBreakerOpen",
        "KohtaamoUpstreamSlow",
        "KohtaamoConsumerLagging",
        "KohtaamoNoticesFailing",
    }
    known = exported_metrics()
    for name, alert in alerts.items():
        used = set(re.findall(r"\bkohtaamo_\w+", alert["expr"]))
        assert used and used <= known, (name, used - known)
        assert alert["annotations"]["runbook"].startswith("docs/operations.md#")
        anchor = alert["annotations"]["runbook"].split("#", 1)[1]
        assert f"### {anchor.replace('-', ' ')}" in OPERATIONS.lower(), (name, anchor)


OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def test_grafana_dashboard_is_shipped_and_charts_real_metrics(
    docs: list[dict[str, Any]],
) -> None:
    """The dashboard ConfigMap (for Grafana's sidecar) holds the JSON in deploy/, and
    every panel's query names metrics the services export."""
    maps = by_kind(docs, "ConfigMap")
    [shipped] = [m for m in maps.values() if "kohtaamo.json" in m.get("data", {})]
    assert shipped["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(shipped["data"]["kohtaamo.json"])
    source = ROOT / "deploy" / "k8s" / "base" / "monitoring" / "dashboard.json"
    assert dashboard == json.loads(source.read_text())
    known = exported_metrics()
    charted: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = set(re.findall(r"\bkohtaamo_\w+", target["expr"]))
            assert used and used <= known, (panel["title"], used - known)
            charted |= used
    # What the issue asked to see: latency, gateway upstreams and breakers, notices,
    # consumer lag, builds.
    assert {
        "kohtaamo_http_request_duration_seconds_bucket",
        "kohtaamo_gateway_upstream_duration_seconds_bucket",
        "kohtaamo_gateway_breaker_state",
        "kohtaamo_notices_sent_total",
        "kohtaamo_notices_failed_total",
        "kohtaamo_consumer_lag_seconds_bucket",
        "kohtaamo_build_info",
    } <= charted


def consumed_queues(service: str) -> set[str]:
    """The queues a service consumes, from its AsyncAPI document (generated from the code
    and kept current by tests/contracts/test_asyncapi_docs.py)."""
    document = json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text())
    operations = document.get("operations", {}).values()
    return {o["bindings"]["amqp"]["cc"][0] for o in operations if o["action"] == "receive"}


def test_queue_scaling_names_the_consumers_real_queues(docs: list[dict[str, Any]]) -> None:
    auth = by_kind(docs, "TriggerAuthentication")
    for name, scaled in by_kind(docs, "ScaledObject").items():
        triggers = scaled["spec"]["triggers"]
        scaled_queues = {t["metadata"]["queueName"] for t in triggers if t["type"] == "rabbitmq"}
        assert scaled_queues == consumed_queues(name), name
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] == "rabbitmq":
                assert trigger["authenticationRef"]["name"] in auth


CRD = ROOT / "tests" / "deploy" / "crd"


def crd_problems(objects: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Problems of custom resources against their CRDs' schemas (node, tests/deploy/crd)."""
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (CRD / "node_modules").is_dir(), "the CRD schemas are not installed: make crd-schemas"
    done = subprocess.run(
        [node, str(CRD / "validate.mjs")],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CRD,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


def test_custom_resources_are_valid_against_their_crd_schemas(
    docs: list[dict[str, Any]],
) -> None:
    custom = [d for d in docs if d["apiVersion"].startswith(("keda.sh/", "monitoring.coreos.com/"))]
    assert {d["kind"] for d in custom} == {
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "PrometheusRule",
    }
    # A broken copy of each (a single value where the schema wants a list): the check
    # refuses exactly those.
    wrong = {
        "ScaledObject": ("triggers", 5),
        "TriggerAuthentication": ("secretTargetRef", "kohtaamo-secrets"),
        "ServiceMonitor": ("endpoints", {"port": "http"}),
        "PrometheusRule": ("groups", "kohtaamo"),
    }
    broken = copy.deepcopy(custom)
    for doc in broken:
        field, value = wrong[doc["kind"]]
        doc["spec"][field] = value
    problems = crd_problems(custom + broken)
    assert len(problems) == len(broken), problems
    named = {f"{d['kind']}/{d['metadata']['name']}" for d in broken}
    assert {p["object"] for p in problems} == named


def test_jobs_run_commands_that_exist(docs: list[dict[str, Any]]) -> None:
    jobs = by_kind(docs, "CronJob")
    assert "backup" in jobs
    for name, job in jobs.items():
        [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        command = container.get("command", [])
        if command[:2] == ["python", "-m"]:
            # A runnable module (its own `python -m` entry), with the arguments it takes.
            source = inspect.getsource(importlib.import_module(command[2]))
            assert 'if __name__ == "__main__":' in source, name
            for argument in command[3:]:
                assert f'"{argument}"' in source, (name, argument)
    backup = jobs["backup"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "mongodump" in backup["args"][0] and "kohtaamo_*" in backup["args"][0]


def test_site_settings_for_production(docs: list[dict[str, Any]]) -> None:
    for name in set(by_kind(docs, "Deployment")) & set(SERVICES):
        config = pod_config(docs, name)
        assert config["KOHTAAMO_MONGO_KIND"] == "mongodb", name
        networks = config["KOHTAAMO_TRUSTED_PROXIES"].split(",")
        assert all(ipaddress.ip_network(n) for n in networks), name
    gateway = pod_config(docs, "gateway")
    assert gateway["KOHTAAMO_RATE_LIMIT_STORAGE"] == "redis://redis:6379/0"
    assert "redis" in by_kind(docs, "Service")
    if "identity" in by_kind(docs, "Deployment"):
        identity = pod_config(docs, "identity")
        assert identity["KOHTAAMO_LOGIN_THROTTLE_STORAGE"] == "redis://redis:6379/0"
