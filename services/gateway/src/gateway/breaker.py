"""A circuit breaker per upstream service (purgatory): after `threshold` consecutive
failures the circuit opens and requests fail fast with 503 for `pause_s`; then trial
requests go through and the first success closes it again (a failure reopens it)."""

from __future__ import annotations

import math
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

__all__ = ["REJECTED", "STATE", "UPSTREAM_LATENCY", "Breakers", "OpenedState"]

# Requests answered 503 because a breaker was open (the alert "breaker open" fires on it).
REJECTED = Counter(
    "kohtaamo_gateway_breaker_rejected_total",
    "Requests refused while the upstream's circuit breaker was open",
    ["upstream"],
)

# 1 for each upstream's breaker's current state (closed, opened, half-opened), in this
# gateway replica (each replica keeps its own breakers).
STATE = Gauge(
    "kohtaamo_gateway_breaker_state",
    "1 for the current state of the upstream's circuit breaker in this gateway replica",
    ["upstream", "state"],
)
STATES = ("closed", "opened", "half-opened")
# Each proxied call's time, by upstream and outcome (its status class, or the gateway's
# own answer: timeout, unreachable, busy, breaker_open).
UPSTREAM_LATENCY = Histogram(
    "kohtaamo_gateway_upstream_duration_seconds",
    "Time of the gateway's calls to each upstream service",
    ["upstream", "outcome"],
)


def show_state(upstream: str, state: str) -> None:
    for each in STATES:
        STATE.labels(upstream, each).set(1 if each == state else 0)


class Breakers:
    def __init__(self, *, threshold: int, pause_s: float) -> None:
        self.threshold = threshold
        self.pause_s = pause_s
        self._factory = AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=pause_s)
        self._factory.add_listener(self._changed)

    @staticmethod
    def _changed(name: str, kind: str, event: Any) -> None:
        if kind == "state_changed":
            show_state(name, str(event.state))

    async def get(self, service: str) -> AsyncCircuitBreaker:
        """`async with await breakers.get(name):` raises OpenedState while open; an
        exception leaving the block counts as a failure, a normal exit as a success."""
        return await self._factory.get_breaker(service)

    def retry_after(self, exc: OpenedState) -> int:
        return max(1, math.ceil(exc.opened_at + self.pause_s - time.time()))

    async def state(self, service: str) -> dict[str, Any]:
        async with self._factory.uow as uow:
            context = await uow.contexts.get(service)
        if context is None:
            return {"state": "closed", "failures": 0}
        return {"state": context.state, "failures": context.failure_count or 0}
