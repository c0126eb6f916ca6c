"""The states of a recurring series and of a block (stored as their values); a booking's
own are the contract's `BookingStatus`. A block lives among the bookings, so its
`BLOCKED` holds the resource's time as a booking does (`store.HOLDING`)."""

from __future__ import annotations

from enum import StrEnum


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"  # its future occurrences cancelled at once


class BlockStatus(StrEnum):
    BLOCKED = "blocked"
    LIFTED = "lifted"
