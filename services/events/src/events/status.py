"""The states an event and a registration go through (stored and sent as their values)."""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    DRAFT = "draft"  # seen by its organisers and the municipality's managers only
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"  # has its seats
    WAITLISTED = "waitlisted"  # in line for seats, by `sequence`
    CANCELLED = "cancelled"
