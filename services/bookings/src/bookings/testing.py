"""Test helpers for the bookings suites (tokens for people, local times, staged events).
Not used at run time."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kit.testing import TestIssuer


class Actors:
    """Tokens for the people in the tests."""

    def __init__(self, issuer: TestIssuer) -> None:
        self.issuer = issuer

    def staff(self, municipality: str = "helsinki") -> dict[str, str]:
        return self.issuer.headers(
            sub=f"staff-{municipality}", roles=["staff"], municipality=municipality
        )

    def user(
        self,
        sub: str | None = None,
        municipality: str = "helsinki",
        roles: list[str] | None = None,
        **claims: Any,
    ) -> dict[str, str]:
        return self.issuer.headers(
            sub=sub or f"u-{uuid.uuid4().hex[:8]}",
            municipality=municipality,
            roles=roles or ["resident"],
            **claims,
        )


def future_day(days: int = 3, weekday: int | None = None) -> date:
    day = datetime.now(UTC).date() + timedelta(days=days)
    while weekday is not None and day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def at(day: date, hhmm: str) -> str:
    """Local (naive) time on `day`: the service reads it in the location's zone."""
    return f"{day.isoformat()}T{hhmm}:00"


class EventLog:
    """Every bookings event that reached the broker during the test session (a queue bound
    to the exchange, as a consumer's would be)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def on_message(self, message: Any) -> None:
        async with message.process():
            self.bodies.append(json.loads(message.body))

    def matching(self, type_suffix: str, subject: str) -> list[dict[str, Any]]:
        return [
            b
            for b in self.bodies
            if b["type"].endswith(f".{type_suffix}.v1") and b.get("subject") == subject
        ]

    async def find(
        self, type_suffix: str, subject: str, *, count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` such events arrived; then return all of them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.matching(type_suffix, subject)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {type_suffix} event for {subject}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let any duplicate arrive too, so counts can be checked
        return self.matching(type_suffix, subject)
