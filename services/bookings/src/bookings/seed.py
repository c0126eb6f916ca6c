"""Idempotent demo data: an Urban Office and a Mediamaja in Helsinki, a branch in Kouvola."""

from __future__ import annotations

from datetime import time
from typing import Any

from bookings.location import LocationIn, LocationKind, create_location
from bookings.opening_hours import Hours, Period
from bookings.resource import ResourceIn, create_resource
from bookings.rules import Rules
from contracts.bookings import ResourceKind
from kit.app import Service


def _week(opens: int, closes: int, saturday: tuple[int, int] | None = (10, 16)) -> Hours:
    weekly = {d: [Period(opens=time(opens), closes=time(closes))] for d in range(5)}
    if saturday:
        weekly[5] = [Period(opens=time(saturday[0]), closes=time(saturday[1]))]
    return Hours(weekly=weekly)


LOCATIONS: list[tuple[str, str, LocationKind, dict[str, str], Hours]] = [
    (
        "loc-hki-oodi-uo",
        "helsinki",
        LocationKind.urban_office,
        {"fi": "Oodi Kaupunkitoimisto", "sv": "Ode Stadskontoret", "en": "Oodi Urban Office"},
        _week(8, 21),
    ),
    (
        "loc-hki-oodi-mm",
        "helsinki",
        LocationKind.mediamaja,
        {"fi": "Oodi Mediamaja", "sv": "Ode Mediamaja", "en": "Oodi Media Workshop"},
        _week(10, 20),
    ),
    (
        "loc-kvl-main",
        "kouvola",
        LocationKind.branch,
        {
            "fi": "Kouvolan pääkirjasto",
            "sv": "Kouvola huvudbibliotek",
            "en": "Kouvola Main Library",
        },
        _week(9, 19, (10, 15)),
    ),
]

# The places' street addresses (the UI's place page links them to a map).
ADDRESSES = {
    "loc-hki-oodi-uo": "Töölönlahdenkatu 4, 00100 Helsinki",
    "loc-hki-oodi-mm": "Töölönlahdenkatu 4, 00100 Helsinki",
    "loc-kvl-main": "Salpausselänkatu 33, 45100 Kouvola",
}

RESOURCES: list[tuple[str, str, ResourceKind, dict[str, str], dict[str, Any]]] = [
    (
        "res-hki-desk-1",
        "loc-hki-oodi-uo",
        ResourceKind.workstation,
        {"fi": "Työpiste 1", "en": "Workstation 1"},
        {"rules": Rules(slot_minutes=60, min_minutes=60, max_minutes=240, max_hours_per_day=4)},
    ),
    (
        "res-hki-desk-2",
        "loc-hki-oodi-uo",
        ResourceKind.workstation,
        {"fi": "Työpiste 2", "en": "Workstation 2"},
        {"rules": Rules(slot_minutes=60, min_minutes=60, max_minutes=240, max_hours_per_day=4)},
    ),
    (
        "res-hki-room-a",
        "loc-hki-oodi-uo",
        ResourceKind.meeting_room,
        {"fi": "Neuvotteluhuone A", "en": "Meeting room A"},
        {
            "capacity": 8,
            "equipment": ["screen", "whiteboard"],
            "accessibility": ["wheelchair"],
            "rules": Rules(
                slot_minutes=30,
                min_minutes=30,
                max_minutes=180,
                buffer_after_minutes=15,
                cancel_deadline_minutes=120,
            ),
        },
    ),
    (
        "res-hki-studio",
        "loc-hki-oodi-mm",
        ResourceKind.studio,
        {"fi": "Äänitysstudio", "en": "Recording studio"},
        {
            "capacity": 4,
            "equipment": ["microphones", "mixer"],
            "rules": Rules(
                slot_minutes=60, min_minutes=60, max_minutes=180, approval_required=True, min_age=15
            ),
        },
    ),
    (
        "res-hki-podcast",
        "loc-hki-oodi-mm",
        ResourceKind.studio,
        {"fi": "Podcast-koppi", "en": "Podcast booth"},
        {"capacity": 3, "rules": Rules(slot_minutes=30, min_minutes=30, max_minutes=120)},
    ),
    (
        "res-hki-3dprinter",
        "loc-hki-oodi-mm",
        ResourceKind.equipment,
        {"fi": "3D-tulostin", "en": "3D printer"},
        {"rules": Rules(slot_minutes=60, min_minutes=60, max_minutes=480)},
    ),
    (
        "res-hki-camera",
        "loc-hki-oodi-mm",
        ResourceKind.equipment,
        {"fi": "Videokamera (laina)", "en": "Video camera (loan)"},
        {
            "equipment": ["tripod", "microphone"],
            "rules": Rules(loan=True, max_loan_days=7, check_in_required=False),
        },
    ),
    (
        "res-kvl-desk-1",
        "loc-kvl-main",
        ResourceKind.workstation,
        {"fi": "Työpiste", "en": "Workstation"},
        {"rules": Rules(slot_minutes=60, min_minutes=60, max_minutes=240)},
    ),
    (
        "res-kvl-room",
        "loc-kvl-main",
        ResourceKind.meeting_room,
        {"fi": "Ryhmätyöhuone", "en": "Group room"},
        {"capacity": 6, "rules": Rules(slot_minutes=30, min_minutes=30, max_minutes=120)},
    ),
]


async def seed(svc: Service) -> dict[str, int]:
    created = {"locations": 0, "resources": 0}
    for location_id, municipality, kind, name, hours in LOCATIONS:
        if await svc.store.db.locations.find_one({"_id": location_id}) is None:
            await create_location(
                svc,
                data=LocationIn(
                    name=name, kind=kind, hours=hours, address=ADDRESSES.get(location_id)
                ),
                municipality=municipality,
                location_id=location_id,
            )
            created["locations"] += 1
    for resource_id, location_id, resource_kind, name, extra in RESOURCES:
        if await svc.store.db.resources.find_one({"_id": resource_id}) is None:
            location = await svc.store.db.locations.find_one({"_id": location_id})
            assert location is not None
            await create_resource(
                svc,
                data=ResourceIn(location_id=location_id, kind=resource_kind, name=name, **extra),
                location=location,
                resource_id=resource_id,
            )
            created["resources"] += 1
    return created
