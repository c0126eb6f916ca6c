"""Bookings settings (`KOHTAAMO_` environment variables)."""

from __future__ import annotations

from kit.settings import KitSettings


class BookingsSettings(KitSettings):
    service: str = "bookings"
    # How often the no-show sweep runs; every replica runs it, conditional updates make
    # each booking change once.
    no_show_sweep_s: float = 30.0
    # Public base URL of this service for the personal calendar feed links.
    public_url: str = ""
    # Attempts of a booking transaction that lost a write conflict on the resource calendar.
    booking_attempts: int = 200
