"""Projections: current state derived from facts, one small collection per question.

Every projection step is idempotent and independent of arrival order (latest version wins
by (rank, time, fact id); histories are sets), so replaying the facts in any order, or
applying a fact twice, gives the same projections. That is what makes a rebuild give
identical answers, and lets a rebuild run while consumers keep consuming."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from analytics import activity, activity_store, esf_counts
from analytics.facts import parse_time, to_millis
from analytics.periods import month_of
from analytics.projection_names import (  # noqa: F401 (also named through this module)
    ACTIVITY_COUNTS,
    ALL,
    ATTENDANCE,
    BLOCKS,
    BOOKINGS,
    CONSENTS,
    ESF_COUNTS,
    EVENTS,
    LEGACY,
    LOCATIONS,
    MENTORS,
    ORGS,
    PEOPLE,
    REGISTRATIONS,
    RESOURCES,
    SKILLS,
    USERS,
    VENUES,
    VISITS,
    Db,
)

Session = AsyncClientSession | None
Projector = Callable[[Db, dict[str, Any], Session, str], Awaitable[None]]


# Indexes of earlier versions: an erasure finds those documents through the facts, and
# reports read attendance and bookings from the activity counters.
_DROPPED_INDEXES = {
    REGISTRATIONS: ["participant_1"],
    ATTENDANCE: ["participant_1", "municipality_1_month_1"],
    BOOKINGS: ["participant_1", "municipality_1_month_1"],
}


async def ensure_indexes(db: Db) -> None:
    # Only what reports query by: the store's cost of a write grows with every index of
    # its collection (the first one about doubles it), and these are written per event.
    for name in (EVENTS, REGISTRATIONS, VISITS, ORGS, ACTIVITY_COUNTS):
        await db[name].create_index([("municipality", 1), ("month", 1)])
    await db[RESOURCES].create_index("municipality")
    await db[LOCATIONS].create_index("municipality")
    for name, indexes in _DROPPED_INDEXES.items():
        present = await db[name].index_information()
        for index in indexes:
            if index in present:
                await db[name].drop_index(index)


async def outdated(db: Db) -> list[str]:
    """Collections an earlier version built that this one reads differently, until a
    rebuild replaces them: those of the per-(scope, period, person) model, and attendance
    and bookings of people, which are now rows of the person documents (read through the
    activity counters)."""
    found = sorted(set(LEGACY) & set(await db.list_collection_names()))
    for name in (ATTENDANCE, BOOKINGS):
        if await db[name].find_one({"participant": {"$exists": True}}, {"_id": 1}):
            found.append(name)
    return found


def _version(rank: int, fact: dict[str, Any], at: datetime | None = None) -> list[Any]:
    return [rank, to_millis(at or fact["at"]), fact["_id"]]


def _newer(new: list[Any], old: list[Any] | None) -> bool:
    return old is None or tuple(new) >= tuple(old)


async def latest_wins(
    db: Db, name: str, key: str, fields: dict[str, Any], version: list[Any], session: Session
) -> bool:
    """Write `fields` unless a newer version is already there; True if written."""
    current = await db[name].find_one({"_id": key}, {"_v": 1}, session=session)
    if current is not None and not _newer(version, current.get("_v")):
        return False
    await db[name].update_one(
        {"_id": key}, {"$set": {**fields, "_v": version}}, upsert=True, session=session
    )
    return True


# -- identity -------------------------------------------------------------------------


async def participant_profile(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    if not fact["participant"] and not d.get("participant"):
        return
    key = fact["participant"] or d["participant"]
    version = {
        "fact": fact["_id"],
        "at": fact["at"],
        "withdrawn": bool(d.get("withdrawn")),
        "gender": d.get("gender", "not_given"),
        "age_band": d.get("age_band", "not_given"),
        "employment": d.get("employment", "not_given"),
        "education": d.get("education", "not_given"),
        "disability": d.get("disability"),
        "third_country_national": d.get("third_country_national"),
        "foreign_background": d.get("foreign_background"),
        "minority": d.get("minority"),
    }
    await esf_counts.change_person(db, key, {"$addToSet": {"versions": version}}, session)


async def profile_updated(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    if not fact["participant"]:
        return
    d = fact["data"]
    version = {
        "fact": fact["_id"],
        "at": fact["at"],
        "offered": d.get("skills_offered", []),
        "wanted": d.get("skills_wanted", []),
    }
    await db[SKILLS].update_one(
        {"_id": fact["participant"]},
        {"$addToSet": {"versions": version}, "$set": {"municipality": fact["municipality"]}},
        upsert=True,
        session=session,
    )


async def mentor_offer(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    if not fact["participant"]:
        return
    d = fact["data"]
    version = {
        "fact": fact["_id"],
        "at": fact["at"],
        "active": bool(d.get("active")),
        "kind": d.get("kind", "peer_mentor"),
        "topics": d.get("topics", []),
    }
    await db[MENTORS].update_one(
        {"_id": fact["participant"]},
        {"$addToSet": {"versions": version}, "$set": {"municipality": fact["municipality"]}},
        upsert=True,
        session=session,
    )


async def user_registered(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    if not fact["participant"]:
        return
    d = fact["data"]
    registered = parse_time(d.get("registered_at")) or fact["at"]
    fields = {
        "municipality": fact["municipality"],
        "roles": d.get("roles", []),
        "organisation_id": d.get("organisation_id"),
        "registered_at": registered,
        "month": month_of(registered, tz),
    }
    await latest_wins(db, USERS, fact["participant"], fields, _version(0, fact), session)


async def roles_changed(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    if not fact["participant"]:
        return
    fields = {"roles": fact["data"].get("roles", []), "municipality": fact["municipality"]}
    await latest_wins(db, USERS, fact["participant"], fields, _version(0, fact), session)


async def consent(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    if not fact["participant"]:
        return
    d = fact["data"]
    changed = parse_time(d.get("changed_at")) or fact["at"]
    fields = {
        "participant": fact["participant"],
        "municipality": fact["municipality"],
        "purpose": d.get("purpose"),
        "granted": bool(d.get("granted")),
    }
    key = f"{fact['participant']}|{d.get('purpose')}"
    await latest_wins(db, CONSENTS, key, fields, _version(0, fact, changed), session)


async def organisation(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    fields = {
        "municipality": fact["municipality"],
        "kind": d.get("kind", "other"),
        "size_band": d.get("size_band"),
        "month": month_of(fact["at"], tz),
    }
    old = await db[ORGS].find_one({"_id": d["organisation_id"]}, session=session)
    if await latest_wins(db, ORGS, d["organisation_id"], fields, _version(0, fact), session):
        await esf_counts.recount_entity(
            db, fact["municipality"], _org_counts(old), _org_counts(fields), session
        )


def _org_counts(doc: dict[str, Any] | None) -> tuple[str, dict[str, int]] | None:
    if not doc or "month" not in doc:
        return None
    return doc["month"], {f"orgs__{doc.get('kind') or 'other'}": 1}


# -- events ---------------------------------------------------------------------------


async def venue(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    fields = {
        "municipality": fact["municipality"],
        "kind": d.get("kind"),
        "active": d.get("active"),
    }
    await latest_wins(db, VENUES, d["venue_id"], fields, _version(0, fact), session)


async def event_facts(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    starts = parse_time(d["starts_at"])
    ends = parse_time(d["ends_at"])
    assert starts is not None and ends is not None
    fields = {
        "municipality": fact["municipality"],
        "kind": d["kind"],
        "venue_id": d.get("venue_id"),
        "venue_kind": d.get("venue_kind"),
        "starts_at": starts,
        "ends_at": ends,
        "hours": max((ends - starts).total_seconds() / 3600, 0.0),
        "month": month_of(starts, tz),
        "capacity": d.get("capacity"),
        "audiences": d.get("audiences", []),
        "topics": sorted({t["skill"] for t in d.get("topics", [])}),
        "languages": d.get("languages", []),
        "organiser_kind": d.get("organiser_kind", "staff"),
        "registration_required": d.get("registration_required", True),
    }
    await latest_wins(db, EVENTS, d["event_id"], fields, _version(0, fact), session)


async def event_cancelled(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    # Sticky: a cancellation stays whatever order the event's messages arrive in.
    await db[EVENTS].update_one(
        {"_id": fact["data"]["event_id"]},
        {"$set": {"cancelled": True}},
        upsert=True,
        session=session,
    )


_REGISTRATION_RANK = {
    "events.registration.waitlisted": (0, "waitlisted"),
    "events.registration.confirmed": (1, "confirmed"),
    "events.registration.promoted": (1, "confirmed"),
    "events.registration.cancelled": (2, "cancelled"),
}


async def registration(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    rank, status = _REGISTRATION_RANK[fact["type"]]
    starts = parse_time(d["starts_at"])
    assert starts is not None
    fields = {
        "municipality": fact["municipality"],
        "event_id": d["event_id"],
        "participant": fact["participant"],
        "kind": d["kind"],
        "seats": d.get("seats", 1),
        "status": status,
        "was_waitlisted": bool(d.get("was_waitlisted")),
        "starts_at": starts,
        "month": month_of(starts, tz),
    }
    await latest_wins(
        db, REGISTRATIONS, d["registration_id"], fields, _version(rank, fact), session
    )


async def attendance(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    starts = parse_time(d["starts_at"])
    assert starts is not None
    # Keyed by registration (or by the fact itself): never by the pseudonym, which an
    # erasure must be able to remove completely.
    key = f"{d['event_id']}|{d.get('registration_id') or fact['_id']}"
    row = {
        "municipality": fact["municipality"],
        "event_id": d["event_id"],
        "kind": d["kind"],
        "attended": bool(d["attended"]),
        "seats": d.get("seats", 1),
        "hours": float(d.get("hours", 0.0)),
        "starts_at": to_millis(starts),
        "month": month_of(starts, tz),
        "_v": _version(0, fact),
    }
    await _activity(db, fact, activity.ATTENDED, key, row, row["attended"], session, tz)


async def _activity(
    db: Db, fact: dict[str, Any], kind: str, key: str, row: dict[str, Any],
    present: bool, session: Session, tz: str,
) -> None:  # fmt: skip
    if fact["participant"]:
        await activity_store.put_row(db, fact["participant"], kind, key, row, present, session, tz)
    else:
        await activity_store.put_anonymous(db, kind, key, row, session, tz)


async def visits(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    counted = parse_time(d["counted_at"]) or fact["at"]
    fields = {
        "municipality": fact["municipality"],
        "kind": d["kind"],
        "venue_kind": d.get("venue_kind"),
        "visits": int(d["visits"]),
        "counted_at": counted,
        "month": month_of(counted, tz),
    }
    # A later count of the same event corrects the earlier one (it is not added to it).
    old = await db[VISITS].find_one({"_id": d["event_id"]}, session=session)
    if await latest_wins(db, VISITS, d["event_id"], fields, _version(0, fact, counted), session):
        await esf_counts.recount_entity(
            db, fact["municipality"], _visit_counts(old), _visit_counts(fields), session
        )


def _visit_counts(doc: dict[str, Any] | None) -> tuple[str, dict[str, int]] | None:
    if not doc or "month" not in doc:
        return None
    return doc["month"], {f"visits__{doc.get('venue_kind') or 'unknown'}": int(doc["visits"])}


# -- bookings -------------------------------------------------------------------------


async def location_hours(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    fields = {
        "municipality": fact["municipality"],
        "name": d.get("name", {}),
        "timezone": d.get("timezone", tz),
        "weekly": {str(k): v for k, v in (d.get("weekly") or {}).items()},
        "exceptions": d.get("exceptions", []),
    }
    await latest_wins(db, LOCATIONS, d["location_id"], fields, _version(0, fact), session)


async def resource(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    fields = {
        "municipality": fact["municipality"],
        "location_id": d["location_id"],
        "kind": d["kind"],
        "name": d.get("name", {}),
        "capacity": d.get("capacity", 1),
        "mentor": fact.get("mentor"),
        "topics": d.get("topics", []),
        "active": d.get("active", True),
    }
    await latest_wins(db, RESOURCES, d["resource_id"], fields, _version(0, fact), session)


async def mentor_hours_closed(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    await db[RESOURCES].update_one(
        {"_id": fact["data"]["resource_id"]},
        {"$min": {"closed_at": fact["at"]}},
        upsert=True,
        session=session,
    )


async def resource_blocked(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    await db[BLOCKS].update_one(
        {"_id": fact["_id"]},
        {
            "$set": {
                "municipality": fact["municipality"],
                "resource_id": d["resource_id"],
                "starts_at": parse_time(d["starts_at"]),
                "ends_at": parse_time(d["ends_at"]),
            }
        },
        upsert=True,
        session=session,
    )


_BOOKING_RANK = {
    "bookings.booking.pending_approval": (0, "pending"),
    "bookings.booking.confirmed": (1, "confirmed"),
    "bookings.booking.denied": (2, "denied"),
    "bookings.booking.cancelled": (2, "cancelled"),
    "bookings.booking.checked_in": (3, "checked_in"),
    "bookings.booking.no_show": (3, "no_show"),
}


async def booking(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    d = fact["data"]
    rank, status = _BOOKING_RANK[fact["type"]]
    starts = parse_time(d["starts_at"])
    ends = parse_time(d["ends_at"])
    assert starts is not None and ends is not None
    row = {
        "municipality": fact["municipality"],
        "resource_id": d["resource_id"],
        "resource_kind": d["resource_kind"],
        "location_id": d["location_id"],
        "mentor": fact.get("mentor"),
        "starts_at": to_millis(starts),
        "ends_at": to_millis(ends),
        "timezone": d.get("timezone", tz),
        "people": d.get("people", 1),
        "status": status,
        "month": month_of(starts, tz),
        "_v": _version(rank, fact),
    }
    present = status == "checked_in"
    await _activity(db, fact, activity.BOOKING, d["booking_id"], row, present, session, tz)


PROJECTORS: dict[str, Projector] = {
    "identity.participant.profile_changed": participant_profile,
    "identity.profile.updated": profile_updated,
    "identity.mentor.offer_changed": mentor_offer,
    "identity.user.registered": user_registered,
    "identity.user.roles_changed": roles_changed,
    "identity.consent.changed": consent,
    "identity.organisation.registered": organisation,
    "events.venue.changed": venue,
    "events.event.published": event_facts,
    "events.event.changed": event_facts,
    "events.event.cancelled": event_cancelled,
    "events.registration.confirmed": registration,
    "events.registration.waitlisted": registration,
    "events.registration.promoted": registration,
    "events.registration.cancelled": registration,
    "events.attendance.recorded": attendance,
    "events.visits.counted": visits,
    "bookings.location.hours_changed": location_hours,
    "bookings.resource.changed": resource,
    "bookings.resource.blocked": resource_blocked,
    "bookings.mentor_hours.closed": mentor_hours_closed,
    "bookings.booking.pending_approval": booking,
    "bookings.booking.confirmed": booking,
    "bookings.booking.denied": booking,
    "bookings.booking.cancelled": booking,
    "bookings.booking.checked_in": booking,
    "bookings.booking.no_show": booking,
}


async def project(db: Db, fact: dict[str, Any], session: Session, tz: str) -> None:
    """Apply one fact to the projections (facts of erased users carry no data)."""
    projector = PROJECTORS.get(fact["type"])
    if projector is None or fact.get("data") is None:
        return
    await projector(db, fact, session, tz)
