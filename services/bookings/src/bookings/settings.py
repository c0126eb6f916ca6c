"""Bookings settings (`KOHTAAMO_` environment variables)."""

from __future__ import annotations

from pydantic import Field

from kit.settings import KitSettings


class BookingsSettings(KitSettings):
    service: str = "bookings"
    # How often the no-show sweep runs; every replica runs it, conditional updates make
    # each booking change once.
    no_show_sweep_s: float = 30.0
    # Attempts of a booking transaction that lost a write conflict on the resource calendar.
    booking_attempts: int = 200
    # Booking batches written side by side per process (requests go to a lane by
    # resource). Fewer, larger batches won on the 2-core reference machine: 2 lanes gave
    # 0.47-0.58 of plain inserts in the burst benchmark, 8 lanes 0.31-0.39.
    booking_lanes: int = Field(default=2, ge=1)
    # Availability views held in memory (timetable.py), counted in slots (or loan days) of
    # about 150 bytes each: 200,000 is about 30 MB, some 280 month views of a workstation
    # open 12 hours a day in 30-minute slots.
    availability_cache_slots: int = Field(default=200_000, ge=0)
