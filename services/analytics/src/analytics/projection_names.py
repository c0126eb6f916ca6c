"""The projections' collections and the database type, apart from the projectors, so
that the modules projections.py uses (activity_store, esf_counts, participants) can name
them without importing it."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

Db = AsyncDatabase[dict[str, Any]]

# One document per person: ESF profile versions, entries, attendance and booking rows (see
# activity.py) and a serial (see esf_counts.py). The store's cost is per written document,
# and a person's facts touch all of them, so they live together: one write per person per
# batch.
PEOPLE = "p_people"
SKILLS = "p_skills"
MENTORS = "p_mentors"
USERS = "p_users"
CONSENTS = "p_consents"
ORGS = "p_orgs"
VENUES = "p_venues"
EVENTS = "p_events"
REGISTRATIONS = "p_registrations"
ATTENDANCE = "p_attendance"
VISITS = "p_visits"
LOCATIONS = "p_locations"
RESOURCES = "p_resources"
BLOCKS = "p_blocks"
BOOKINGS = "p_bookings"

ESF_COUNTS = "p_esf_counts"  # see esf_counts.py
ACTIVITY_COUNTS = "p_activity_counts"  # see activity.py

ALL = [
    PEOPLE, SKILLS, MENTORS, USERS, CONSENTS, ORGS, VENUES, EVENTS,
    REGISTRATIONS, ATTENDANCE, VISITS, LOCATIONS, RESOURCES, BLOCKS, BOOKINGS, ESF_COUNTS,
    ACTIVITY_COUNTS,
]  # fmt: skip
# The collections of the earlier per-(scope, period, person) model: a rebuild drops them.
LEGACY = ["p_profiles", "p_entries", "p_esf_contrib", "p_esf_serial"]
