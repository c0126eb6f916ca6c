"""The short form of the mixed load (bench/mixed_load.py): about 20 s of many people
browsing, booking, registering and cancelling through the gateway of a real platform
(service processes on their own vhost and databases); afterwards no errors and every
booking and seat invariant holds in the stores. No timing assertions."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kit import platform as kit_platform

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_bench() -> ModuleType:
    # Tests import with --import-mode=importlib: load the script by its path.
    spec = importlib.util.spec_from_file_location("kohtaamo_mixed_load", BENCH / "mixed_load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mixed_load = _load_bench()


@pytest.fixture(scope="module")
def platform(
    make_settings: Any, make_vhost: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[kit_platform.Platform]:
    # Its own vhost: the processes consume queue names other suites' services use too.
    settings = make_settings("load", amqp_url=make_vhost("load", "module"))
    started = kit_platform.start_for(
        settings,
        tmp_path_factory.mktemp("load-platform"),
        # The whole platform: notifications and analytics consume what the load causes.
        services=("identity", "events", "bookings", "notifications", "analytics"),
        env=mixed_load.platform_env(),
        gateway_env=mixed_load.GATEWAY_ENV,
    )
    try:
        yield started
    finally:
        kit_platform.stop(started)


@pytest.mark.timeout(900)
async def test_mixed_load_keeps_invariants(platform: kit_platform.Platform) -> None:
    figures = await mixed_load.run_load(
        platform, seconds=20, users=16, resources=3, events=2, baseline_seconds=2
    )
    print(mixed_load.table(figures))
    total = figures["total"]
    assert total["errors"] == 0, figures["error_samples"]
    operations = figures["operations"]
    # Every kind of operation ran and succeeded at least once.
    for op in mixed_load.MIX:
        assert operations[op]["ok"] > 0, (op, operations[op])
    invariants = figures["invariants"]
    assert invariants["events_checked"] == 2
    assert invariants["overlapping_bookings"] == 0, invariants
    assert invariants["overbooked_events"] == 0, invariants
    assert invariants["events_with_wrong_counters"] == 0, invariants
    assert invariants["duplicate_active_registrations"] == 0, invariants
    assert invariants["bookings_told_held_but_not"] == 0, invariants
    assert invariants["registrations_told_active_but_not"] == 0, invariants
    assert invariants["held"] is True
    # The people's own view agrees with the stores in size too.
    assert invariants["held_bookings"] >= 1
    assert invariants["confirmed_seats"] <= invariants["capacity"]

    # The consumers kept up without losing anything: none dead-lettered a message, and
    # notifications and analytics applied the bookings and registrations of the load.
    async def applied(service: str) -> float:
        return sum(
            value
            for name, labels, value in await metrics(platform, service)
            if name == "kohtaamo_messages_consumed_total" and labels.get("outcome") == "applied"
        )

    assert await applied("notifications") > 0 and await applied("analytics") > 0
    for service in platform.urls:
        dead = {
            labels.get("queue"): value
            for name, labels, value in await metrics(platform, service)
            if name == "kohtaamo_messages_dead_lettered_total" and value > 0
        }
        assert not dead, (service, dead)


async def metrics(
    platform: kit_platform.Platform, service: str
) -> list[tuple[str, dict[str, str], float]]:
    """A service's Prometheus samples: name, labels, value."""
    async with httpx.AsyncClient(base_url=platform.urls[service], timeout=10) as client:
        text = (await client.get("/metrics")).text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
