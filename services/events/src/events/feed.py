"""Public feeds: iCalendar (RFC 5545, written with the `icalendar` library) and schema.org
Event JSON-LD. Times are written in the event's own time zone with its VTIMEZONE, so a
calendar shows 18:00 local on both sides of a daylight-saving change."""

from __future__ import annotations

from typing import Any

from icalendar import Calendar, Event, vGeo, vText

from contracts import calendar as entries
from events import clock
from events.status import EventStatus

STATUS_ICS = {
    EventStatus.PUBLISHED: "CONFIRMED",
    EventStatus.COMPLETED: "CONFIRMED",
    EventStatus.CANCELLED: "CANCELLED",
}
STATUS_LD = {
    EventStatus.PUBLISHED: "https://schema.org/EventScheduled",
    EventStatus.COMPLETED: "https://schema.org/EventScheduled",
    EventStatus.CANCELLED: "https://schema.org/EventCancelled",
}


def text(value: dict[str, str] | None, lang: str) -> str:
    """The text in `lang`, else Finnish, else whatever language there is."""
    if not value:
        return ""
    return value.get(lang) or value.get("fi") or next(iter(value.values()))


def _address(venue: dict[str, Any] | None) -> str:
    if not venue or not venue.get("address"):
        return ""
    a = venue["address"]
    return ", ".join(
        x for x in (a.get("street"), f"{a.get('postal_code', '')} {a.get('city', '')}".strip()) if x
    )


def calendar(
    events: list[dict[str, Any]],
    venues: dict[str, dict[str, Any]],
    *,
    name: str,
    lang: str,
    base_url: str,
) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Kohtaamo//events//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    # An X- property is not escaped unless typed as text: a line break in a title (the
    # calendar name of one event's file) would otherwise break the file.
    cal.add("x-wr-calname", vText(name))
    for doc in events:
        cal.add_component(_vevent(doc, venues.get(doc.get("venue_id") or ""), lang, base_url))
    cal.add_missing_timezones()  # one VTIMEZONE per TZID used
    return cal.to_ical()


def _vevent(doc: dict[str, Any], venue: dict[str, Any] | None, lang: str, base_url: str) -> Event:
    tz = doc["timezone"]
    item = Event()
    item.add("uid", entries.uid(doc["_id"]))
    # The event's revision counts up with every change (its cancellation too), so a
    # calendar replaces what it holds; more steps than significant changes do no harm.
    item.add("sequence", doc.get("revision", 0))
    item.add("dtstamp", clock.local(doc.get("updated_at") or clock.now(), "UTC"))
    item.add("dtstart", clock.local(doc["starts_at"], tz))
    item.add("dtend", clock.local(doc["ends_at"], tz))
    item.add("summary", text(doc["title"], lang))
    description = text(doc.get("description"), lang)
    if description:
        item.add("description", description)
    place = ", ".join(x for x in (text(doc.get("venue_name"), lang), _address(venue)) if x)
    if place:
        item.add("location", place)
    if venue and venue.get("latitude") is not None:
        item.add("geo", vGeo((venue["latitude"], venue["longitude"])))
    item.add("status", STATUS_ICS.get(doc["status"], "TENTATIVE"))
    item.add("categories", [doc["kind"], *[t["skill"] for t in doc.get("topics", [])]])
    item.add("url", f"{base_url}/events/{doc['_id']}")
    return item


def json_ld(
    doc: dict[str, Any],
    venue: dict[str, Any] | None,
    *,
    lang: str,
    base_url: str,
    sub_events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    tz = doc["timezone"]
    online = (venue or {}).get("kind") == "online"
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "@id": f"{base_url}/events/{doc['_id']}",
        "url": f"{base_url}/events/{doc['_id']}",
        "name": text(doc["title"], lang),
        "description": text(doc.get("description"), lang),
        "startDate": clock.local(doc["starts_at"], tz).isoformat(),
        "endDate": clock.local(doc["ends_at"], tz).isoformat(),
        "eventStatus": STATUS_LD.get(doc["status"], "https://schema.org/EventScheduled"),
        "eventAttendanceMode": "https://schema.org/"
        + ("OnlineEventAttendanceMode" if online else "OfflineEventAttendanceMode"),
        "inLanguage": doc.get("languages", []),
        "keywords": [t["skill"] for t in doc.get("topics", [])],
        "audience": [{"@type": "Audience", "audienceType": a} for a in doc.get("audiences", [])],
        "organizer": {
            "@type": "Person" if doc["organiser"]["kind"] == "mentor" else "Organization",
            "name": doc["organiser"].get("name") or "",
        },
        "isAccessibleForFree": doc.get("price", {}).get("free", True),
    }
    if venue is not None:
        if online:
            ld["location"] = {"@type": "VirtualLocation", "url": venue.get("url") or ""}
        else:
            place: dict[str, Any] = {"@type": "Place", "name": text(venue["name"], lang)}
            if venue.get("address"):
                a = venue["address"]
                place["address"] = {
                    "@type": "PostalAddress",
                    "streetAddress": a.get("street", ""),
                    "postalCode": a.get("postal_code", ""),
                    "addressLocality": a.get("city", ""),
                    "addressCountry": "FI",
                }
            if venue.get("latitude") is not None:
                place["geo"] = {
                    "@type": "GeoCoordinates",
                    "latitude": venue["latitude"],
                    "longitude": venue["longitude"],
                }
            ld["location"] = place
    if doc.get("capacity") is not None:
        ld["maximumAttendeeCapacity"] = doc["capacity"]
        ld["remainingAttendeeCapacity"] = max(0, doc["capacity"] - doc.get("seats_taken", 0))
    price = doc.get("price") or {}
    ld["offers"] = {
        "@type": "Offer",
        "price": 0 if price.get("free", True) else price.get("amount"),
        "priceCurrency": price.get("currency", "EUR"),
        "url": f"{base_url}/events/{doc['_id']}",
    }
    if doc.get("min_age") is not None or doc.get("max_age") is not None:
        ld["typicalAgeRange"] = f"{doc.get('min_age') or 0}-{doc.get('max_age') or ''}"
    if doc.get("parent_event_id"):
        ld["superEvent"] = {"@type": "Event", "@id": f"{base_url}/events/{doc['parent_event_id']}"}
    if sub_events:
        ld["subEvent"] = [
            {
                "@type": "Event",
                "@id": f"{base_url}/events/{s['_id']}",
                "name": text(s["title"], lang),
            }
            for s in sub_events
        ]
    return ld
