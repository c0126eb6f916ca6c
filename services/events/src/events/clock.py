"""Time: stored in UTC, presented in the municipality's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from events.errors import Invalid


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"Unknown time zone {name!r}.", field="timezone") from exc


def to_utc(value: datetime, tz: str) -> datetime:
    """A naive datetime is wall-clock time in `tz`; an aware one is converted."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    return value.astimezone(UTC)


@overload
def local(value: datetime, tz: str) -> datetime: ...


@overload
def local(value: None, tz: str) -> None: ...


@overload
def local(value: datetime | None, tz: str) -> datetime | None: ...


def local(value: datetime | None, tz: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # stored values are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(tz))


def now() -> datetime:
    return datetime.now(UTC)
