"""Idempotent demo data: venues (library branches and Avaa tila pop-up places) and
published events for Helsinki and Kouvola. Fixed ids make a rerun a no-op."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from events import clock, event, store, venue
from events.settings import EventsSettings
from kit.app import Service

VENUES: list[dict[str, Any]] = [
    {"id": "ven-hki-oodi", "municipality": "helsinki", "kind": "library",
     "name": {"fi": "Keskustakirjasto Oodi", "sv": "Centrumbiblioteket Ode",
              "en": "Central Library Oodi"},
     "address": {"street": "Töölönlahdenkatu 4", "postal_code": "00100", "city": "Helsinki"},
     "latitude": 60.1738, "longitude": 24.9381,
     "accessibility": {"fi": "Esteetön sisäänkäynti", "en": "Step-free entrance"}},
    {"id": "ven-hki-kallio", "municipality": "helsinki", "kind": "library",
     "name": {"fi": "Kallion kirjasto", "sv": "Berghälls bibliotek", "en": "Kallio Library"},
     "address": {"street": "Viides linja 11", "postal_code": "00530", "city": "Helsinki"},
     "latitude": 60.1841, "longitude": 24.9497},
    {"id": "ven-hki-esplanadi", "municipality": "helsinki", "kind": "park",
     "name": {"fi": "Esplanadin puisto", "sv": "Esplanadparken", "en": "Esplanade Park"},
     "latitude": 60.1675, "longitude": 24.9480},
    {"id": "ven-hki-kamppi", "municipality": "helsinki", "kind": "shopping_centre",
     "name": {"fi": "Kauppakeskus Kamppi", "en": "Kamppi Shopping Centre"},
     "address": {"street": "Urho Kekkosen katu 1", "postal_code": "00100", "city": "Helsinki"},
     "latitude": 60.1690, "longitude": 24.9320},
    {"id": "ven-kvl-main", "municipality": "kouvola", "kind": "library",
     "name": {"fi": "Kouvolan pääkirjasto", "en": "Kouvola Main Library"},
     "address": {"street": "Salpausselänkatu 33", "postal_code": "45100", "city": "Kouvola"},
     "latitude": 60.8679, "longitude": 26.7042},
    {"id": "ven-kvl-cafe", "municipality": "kouvola", "kind": "cafe",
     "name": {"fi": "Kahvila Manski", "en": "Café Manski"},
     "latitude": 60.8665, "longitude": 26.7005},
]  # fmt: skip

EVENTS: list[dict[str, Any]] = [
    {"id": "evt-hki-cv", "municipality": "helsinki", "venue": "ven-hki-oodi", "kind": "workshop",
     "title": {"fi": "CV-työpaja", "sv": "CV-verkstad", "en": "CV workshop"},
     "audiences": ["immigrants", "students"],
     "topics": [{"skill": "job seeking", "level": "beginner"}],
     "languages": ["fi", "en"], "days": 7, "hour": 17, "capacity": 20},
    {"id": "evt-hki-3d", "municipality": "helsinki", "venue": "ven-hki-oodi", "kind": "course",
     "title": {"fi": "3D-tulostuksen alkeet", "en": "3D printing basics"},
     "audiences": ["young_talents"], "topics": [{"skill": "3d printing", "level": "beginner"}],
     "languages": ["fi"], "days": 10, "hour": 16, "capacity": 8},
    {"id": "evt-hki-popup", "municipality": "helsinki", "venue": "ven-hki-esplanadi",
     "kind": "avaa_tila", "title": {"fi": "Avaa tila: digineuvontaa puistossa",
                                    "en": "Open space: digital help in the park"},
     "audiences": ["everyone"], "topics": [{"skill": "digital skills"}],
     "languages": ["fi", "sv", "en"],
     "days": 5, "hour": 12, "capacity": None, "registration_required": False},
    {"id": "evt-hki-startup", "municipality": "helsinki", "venue": "ven-hki-kallio",
     "kind": "meetup",
     "title": {"fi": "Startup-aamu", "en": "Start-up morning"},
     "audiences": ["startups", "freelancers", "smes"], "topics": [{"skill": "entrepreneurship"}],
     "languages": ["en"], "days": 14, "hour": 9, "capacity": 30},
    {"id": "evt-kvl-podcast", "municipality": "kouvola", "venue": "ven-kvl-main",
     "kind": "workshop",
     "title": {"fi": "Podcastin teko", "en": "Making a podcast"},
     "audiences": ["young_talents", "associations"], "topics": [{"skill": "podcasting"}],
     "languages": ["fi"], "days": 8, "hour": 17, "capacity": 10},
    {"id": "evt-kvl-popup", "municipality": "kouvola", "venue": "ven-kvl-cafe", "kind": "avaa_tila",
     "title": {"fi": "Avaa tila: kirjasto kahvilassa", "en": "Open space: library in a café"},
     "audiences": ["everyone"], "topics": [{"skill": "reading"}], "languages": ["fi"],
     "days": 6, "hour": 13, "capacity": None, "registration_required": False},
    {"id": "evt-kvl-staff", "municipality": "kouvola", "venue": "ven-kvl-main",
     "kind": "staff_training", "title": {"fi": "Vertaiskoulutus: tapahtumajärjestelmä",
                                         "en": "Peer training: the events system"},
     "audiences": ["staff"], "topics": [{"skill": "kohtaamo", "level": "intermediate"}],
     "languages": ["fi"], "days": 3, "hour": 9, "capacity": 15},
]  # fmt: skip


async def seed(svc: Service[EventsSettings]) -> dict[str, Any]:
    made = {"venues": 0, "events": 0}
    for v in VENUES:
        if await svc.store.db[store.VENUES].find_one({"_id": v["id"]}):
            continue
        data = venue.VenueIn.model_validate(
            {k: x for k, x in v.items() if k not in ("id", "municipality")}
        )
        await venue.create(svc, data=data, municipality=v["municipality"], venue_id=v["id"])
        made["venues"] += 1
    for e in EVENTS:
        if await svc.store.db[store.EVENTS].find_one({"_id": e["id"]}):
            continue
        tz = svc.settings.timezone_of(e["municipality"])
        day = clock.local(clock.now(), tz).date() + timedelta(days=e["days"])
        starts = datetime(day.year, day.month, day.day, e["hour"])
        details = event.EventIn.model_validate(
            {
                "kind": e["kind"], "title": e["title"], "audiences": e["audiences"],
                "topics": e["topics"], "languages": e["languages"], "venue_id": e["venue"],
                "starts_at": starts, "ends_at": starts + timedelta(hours=2),
                "capacity": e["capacity"],
                "registration_required": e.get("registration_required", True),
                "organiser": {"name": "Kirjasto"},
                "description": {"fi": "Tervetuloa!", "en": "Welcome!"},
            }
        )  # fmt: skip
        doc = await event.new_document(
            svc,
            data=details,
            municipality=e["municipality"],
            created_by="seed",
            organiser_kind="staff",
        )
        doc["_id"] = e["id"]
        await svc.store.db[store.EVENTS].insert_one(doc)
        await event.publish(svc, event=doc)
        made["events"] += 1
    return made
