"""The metrics' names follow Prometheus' conventions (docs/operations.md, "Metrics"), and
every process says what it runs (`kohtaamo_build_info`); no infrastructure."""

from __future__ import annotations

from prometheus_client import REGISTRY

import gateway.breaker  # noqa: F401  (registers the gateway's metrics)
import kit.metrics  # noqa: F401
import notifications.metrics  # noqa: F401
from kit.settings import KitSettings
from kit.web import WebService


def test_names_follow_the_conventions() -> None:
    ours = [f for f in REGISTRY.collect() if f.name.startswith("kohtaamo_")]
    assert len(ours) >= 18
    for family in ours:
        if family.type == "histogram":
            # Durations in seconds, the base unit, said in the name.
            assert family.name.endswith("_seconds"), family.name
        if family.type == "counter":
            assert not family.name.endswith("_total"), family.name  # the client adds it
    names = {f.name for f in ours}
    assert "kohtaamo_http_request_duration_seconds" in names
    assert "kohtaamo_http_request_seconds" not in names


def test_build_info_names_service_version_and_revision() -> None:
    settings = KitSettings(build_revision="abc1234")
    WebService("gateway", settings=settings).create_app()
    [sample] = [
        s
        for f in REGISTRY.collect()
        if f.name == "kohtaamo_build_info"
        for s in f.samples
        if s.labels["service"] == "gateway" and s.labels["revision"] == "abc1234"
    ]
    assert sample.value == 1 and sample.labels["version"] == "0.1.0"
