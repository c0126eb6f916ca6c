"""Kohtaamo bookings service."""
