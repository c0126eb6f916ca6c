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
