"""Erasure completes for a user of either site: Helsinki's identity (Kouvola's too) publishes
user.erased; of each service identity waits for, exactly one instance acts on it (the one
of the site serving the user, or a network-wide one) and its erasure.completed reaches
Helsinki's identity, which acts on it. Checked without a broker over the site files
(federation policies, the federation users' read permissions), the rendered Kubernetes
overlays (which services run where, which municipalities each acts on) and the services'
own consumers. test_federation.py runs the same paths on the real broker."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from contracts import identity as idc
from contracts import topology
from identity.settings import IdentitySettings
from kit import registry
from kit.consumer import Consumer
from kit.settings import KitSettings

from .conftest import DEPLOY, SERVICES, by_kind, load_apply, pod_config, render

SITES = ("helsinki", "kouvola")


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    """Per site: its broker file, and per service it runs the municipalities it serves."""
    apply = load_apply()
    sites: dict[str, Any] = {}
    for site in SITES:
        docs = render(site)
        served = {}
        for service in set(by_kind(docs, "Deployment")) & set(SERVICES):  # not Redis
            config = pod_config(docs, service)
            served[service] = KitSettings(
                municipality=config["KOHTAAMO_MUNICIPALITY"],
                municipalities=config.get("KOHTAAMO_MUNICIPALITIES", ""),
            ).municipalities
        broker = apply.load(DEPLOY / "sites" / site / "rabbitmq.site.json")
        sites[site] = {"served": served, "broker": broker}
    return sites


@pytest.fixture(scope="module")
def consumers() -> dict[str, list[Consumer]]:
    with pytest.MonkeyPatch.context() as env:
        # Services that need a secret to be built get a throwaway one; nothing connects.
        env.setenv("KOHTAAMO_PSEUDONYM_KEY", "deploy-test-only-key-0123456789abcdef")
        env.setenv("KOHTAAMO_KEY_ENCRYPTION_SECRET", "deploy-test-only-0123456789abcdef")
        return {name: registry.load_factory(name)().consumers for name in registry.installed()}


def pulls(sites: dict[str, Any], downstream: str, upstream: str, exchange: str) -> bool:
    """Whether `downstream`'s broker pulls `exchange` from `upstream`'s by federation: a
    policy there names the upstream and covers the exchange, and the user it logs in with
    at the upstream (`federation-<downstream>`) may read it."""
    policy = any(
        f["upstream"] == upstream and re.search(f["pattern"], exchange)
        for f in sites[downstream]["broker"].get("federation", [])
    )
    readable = any(
        p["user"] == f"federation-{downstream}" and re.search(p["read"], exchange)
        for p in sites[upstream]["broker"]["permissions"]
    )
    return policy and readable


def reaches(sites: dict[str, Any], origin: str, target: str, exchange: str) -> bool:
    return origin == target or pulls(sites, target, origin, exchange)


def acts(consumer: Consumer, served: list[str], municipality: str) -> bool:
    return consumer.network or municipality in served


# Erasure consumers that are network-wide to erase a person's records wherever they are (a
# booking of another site's room), but answer identity only where the site serves the
# person's municipality (services/bookings/src/bookings/handlers.py).
ANSWER_WHERE_SERVED = {"bookings"}


def answers(service: str, consumer: Consumer, served: list[str], municipality: str) -> bool:
    if service in ANSWER_WHERE_SERVED:
        assert consumer.network, f"{service} erases only its own municipalities' people"
        return municipality in served
    return acts(consumer, served, municipality)


@pytest.mark.parametrize("municipality", SITES)
def test_every_service_answers_erasure_once_and_identity_hears_it(
    deployment: dict[str, Any], consumers: dict[str, list[Consumer]], municipality: str
) -> None:
    [identity_site] = [s for s in SITES if "identity" in deployment[s]["served"]]
    identity_exchange = topology.exchange("identity")
    [erasures] = [
        c
        for c in consumers["identity"]
        if any(t.endswith(".erasure.completed.v1") for t in c.event_types)
    ]
    # Helsinki's identity is the user's identity whichever site they belong to.
    assert acts(erasures, deployment[identity_site]["served"]["identity"], municipality)
    expected = IdentitySettings().erasure_services
    assert expected, "identity waits for no service"
    for service in expected:
        answering = []
        for site in SITES:
            if service not in deployment[site]["served"]:
                continue
            [on_erased] = [c for c in consumers[service] if idc.USER_ERASED in c.event_types]
            hears = reaches(deployment, identity_site, site, identity_exchange)
            if hears and answers(
                service, on_erased, deployment[site]["served"][service], municipality
            ):
                answering.append(site)
        # None: the erasure never completes; two: one answer (the empty one) comes first.
        assert len(answering) == 1, f"{service} answers {municipality}'s erasure at {answering}"
        [site] = answering
        answer: str = importlib.import_module(f"contracts.{service}").ERASURE_COMPLETED
        assert answer in erasures.event_types, f"identity does not consume {answer}"
        assert reaches(deployment, site, identity_site, topology.exchange(service)), (
            f"{service}'s erasure.completed at {site} does not reach identity at {identity_site}"
        )
