"""The states an event, a series of events and a registration go through (stored and sent
as their values)."""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    DRAFT = "draft"  # seen by its organisers and the municipality's managers only
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"  # its open occurrences cancelled with it


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"  # has its seats
    WAITLISTED = "waitlisted"  # in line for seats, by `sequence`
    CANCELLED = "cancelled"
