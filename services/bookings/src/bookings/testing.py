"""Test helpers for the bookings suites (tokens for people, local times, staged events).
Not used at run time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kit.app import Service
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


async def staged(svc: Service, type_suffix: str, subject: str) -> list[dict[str, Any]]:
    """Events staged in the outbox (same transaction as the change) for one subject."""
    docs = await svc.store.db.outbox.find({"type": {"$regex": f"{type_suffix}\\.v1$"}}).to_list()
    bodies = [json.loads(d["body"]) for d in docs]
    return [b for b in bodies if b.get("subject") == subject]
