"""Recurring series and the public feeds: iCalendar parsed back with `icalendar` keeps the
local times across a daylight-saving change; schema.org JSON-LD per event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from contracts import events as ev
from events.series import Recurrence, occurrences

HELSINKI = ZoneInfo("Europe/Helsinki")


def test_monthly_by_weekday_and_by_day() -> None:
    # 2nd Tuesday of the month
    rule = Recurrence(frequency="monthly", count=3, monthly_by="weekday")
    got = occurrences(datetime(2027, 1, 12, 17, 0), rule)
    assert [d.date().isoformat() for d in got] == ["2027-01-12", "2027-02-09", "2027-03-09"]
    rule = Recurrence(frequency="monthly", count=3)
    got = occurrences(datetime(2027, 1, 14, 17, 0), rule)
    assert [d.day for d in got] == [14, 14, 14]
    rule = Recurrence(frequency="weekly", interval=2, until=datetime(2027, 1, 31).date())
    assert len(occurrences(datetime(2027, 1, 4, 9, 0), rule)) == 2  # 4th and 18th of January


async def test_weekly_series_across_dst_in_ics_and_json_ld(api: Any, published: Any) -> None:
    venue = await api.venue(name={"fi": "Oodi"}, latitude=60.1738, longitude=24.9381,
                            address={"street": "Töölönlahdenkatu 4", "postal_code": "00100",
                                     "city": "Helsinki"})  # fmt: skip
    partner = api.auth("partner", sub="series-partner")
    body = {
        "template": {
            "kind": "course",
            "title": {"fi": "Suomen kielen kurssi", "en": "Finnish course"},
            "description": {"fi": "Joka tiistai"},
            "venue_id": venue["id"],
            "capacity": 12,
            "languages": ["fi"],
            "topics": [{"skill": "finnish", "level": "beginner"}],
            # wall-clock time in Helsinki; daylight saving starts on 28 March 2027
            "starts_at": "2027-03-16T18:00:00",
            "ends_at": "2027-03-16T19:30:00",
        },
        "recurrence": {"frequency": "weekly", "count": 4},
    }
    r = await api.client.post("/series", json=body, headers=partner)
    assert r.status_code == 201, r.text
    series = r.json()
    occ = series["occurrences"]
    assert [o["starts_at"] for o in occ] == [
        "2027-03-16T18:00:00+02:00",
        "2027-03-23T18:00:00+02:00",
        "2027-03-30T18:00:00+03:00",
        "2027-04-06T18:00:00+03:00",
    ]
    assert [o["starts_at_utc"][11:16] for o in occ] == ["16:00", "16:00", "15:00", "15:00"]
    assert all(o["status"] == "draft" and o["organiser"]["kind"] == "partner" for o in occ)

    # the partner cannot publish; kouvola staff neither; helsinki staff publish them all
    assert (
        await api.client.post(f"/series/{series['id']}/publish", headers=partner)
    ).status_code == 403
    kouvola = api.auth("staff", "kouvola")
    assert (
        await api.client.post(f"/series/{series['id']}/publish", headers=kouvola)
    ).status_code == 403
    r = await api.client.post(f"/series/{series['id']}/publish", headers=api.auth())
    assert r.json() == {"published": 4}
    events = await published.wait(ev.EVENT_PUBLISHED, 4, series_id=series["id"])
    assert {e["data"]["event_id"] for e in events} == {o["id"] for o in occ}

    # iCalendar for the filtered list, parsed by a real calendar library
    r = await api.client.get(
        "/feeds/events.ics", params={"series_id": series["id"], "from": "2027-03-01", "lang": "en"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    vevents = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert len(vevents) == 4
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Helsinki"]
    for vevent, expected in zip(vevents, occ, strict=True):
        start = vevent.decoded("dtstart")
        assert start.tzinfo is not None
        assert start.astimezone(HELSINKI).strftime("%H:%M") == "18:00"
        assert start.astimezone(UTC) == datetime.fromisoformat(expected["starts_at_utc"])
        assert (vevent.decoded("dtend") - start).total_seconds() == 90 * 60
        assert str(vevent["summary"]) == "Finnish course"
        assert str(vevent["uid"]) == f"{expected['id']}@kohtaamo.fi"
        assert "Töölönlahdenkatu 4" in str(vevent["location"])
        assert vevent["status"] == "CONFIRMED"
    # the TZID parameter travels in the text form too
    assert b"DTSTART;TZID=Europe/Helsinki:20270330T180000" in r.content

    # One occurrence cancelled alone, then the rest of the series as a whole.
    r = await api.client.post(f"/events/{occ[1]['id']}/cancel", headers=api.auth())
    assert r.json()["status"] == "cancelled"
    r = await api.client.get(f"/events/{occ[1]['id']}/event.ics")
    one = Calendar.from_ical(r.content)
    [cancelled] = one.walk("VEVENT")
    assert cancelled["status"] == "CANCELLED"
    # The same entry as in the feed, at a higher SEQUENCE: a calendar applies it.
    assert cancelled["uid"] == vevents[1]["uid"]
    assert int(cancelled["sequence"]) > int(vevents[1]["sequence"])
    assert cancelled.decoded("dtstart").astimezone(HELSINKI).hour == 18

    # JSON-LD (schema.org Event)
    r = await api.client.get(f"/events/{occ[2]['id']}/jsonld", params={"lang": "en"})
    assert r.headers["content-type"].startswith("application/ld+json")
    ld = r.json()
    assert ld["@context"] == "https://schema.org" and ld["@type"] == "Event"
    assert ld["name"] == "Finnish course" and ld["startDate"] == "2027-03-30T18:00:00+03:00"
    assert ld["eventStatus"] == "https://schema.org/EventScheduled"
    assert ld["location"]["@type"] == "Place"
    assert ld["location"]["geo"] == {"@type": "GeoCoordinates", "latitude": 60.1738,
                                     "longitude": 24.9381}  # fmt: skip
    assert ld["location"]["address"]["postalCode"] == "00100"
    assert ld["maximumAttendeeCapacity"] == 12 and ld["remainingAttendeeCapacity"] == 12
    assert ld["offers"]["price"] == 0 and ld["isAccessibleForFree"] is True
    assert ld["keywords"] == ["finnish"]

    r = await api.client.post(f"/series/{series['id']}/cancel", json={"reason": "teacher ill"},
                              headers=api.auth())  # fmt: skip
    assert r.json() == {"cancelled": 3}
    r = await api.client.get(f"/series/{series['id']}")
    assert {o["status"] for o in r.json()["occurrences"]} == {"cancelled"}
    cancels = await published.wait(ev.EVENT_CANCELLED, 4, title=body["template"]["title"])
    assert len({c["data"]["event_id"] for c in cancels}) == 4
    r = await api.client.get(f"/events/{occ[3]['id']}/jsonld")
    assert r.json()["eventStatus"] == "https://schema.org/EventCancelled"


async def test_series_validation_and_draft_feeds(api: Any) -> None:
    body = {
        "template": {"kind": "meetup", "title": {"fi": "Kerho"},
                     "starts_at": "2027-05-01T10:00:00", "ends_at": "2027-05-01T09:00:00"},
        "recurrence": {"frequency": "weekly", "count": 2},
    }  # fmt: skip
    r = await api.client.post("/series", json=body, headers=api.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "template.ends_at"
    body["template"]["ends_at"] = "2027-05-01T11:00:00"
    body["recurrence"] = {"frequency": "weekly"}
    r = await api.client.post("/series", json=body, headers=api.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "recurrence.count"
    body["recurrence"] = {"frequency": "daily", "count": 2}
    r = await api.client.post("/series", json=body, headers=api.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "recurrence.frequency"
    body["recurrence"] = {"frequency": "weekly", "count": 2}
    r = await api.client.post("/series", json=body, headers=api.auth("resident"))
    assert r.status_code == 403
    r = await api.client.post("/series", json=body, headers=api.auth("mentor", sub="m-9"))
    hidden = r.json()["id"]
    assert (await api.client.get(f"/series/{hidden}")).status_code == 404
    assert (
        await api.client.get(f"/series/{hidden}", headers=api.auth("resident"))
    ).status_code == 404
    r = await api.client.get(f"/series/{hidden}", headers=api.auth("mentor", sub="m-9"))
    assert r.status_code == 200 and len(r.json()["occurrences"]) == 2
    r = await api.client.get(f"/series/{hidden}", headers=api.auth())
    assert r.status_code == 200 and len(r.json()["occurrences"]) == 2
    r = await api.client.post(f"/series/{hidden}/cancel", headers=api.auth("staff", "kouvola"))
    assert r.status_code == 403
    draft = await api.event(publish=False)
    assert (await api.client.get(f"/events/{draft['id']}/event.ics")).status_code == 404
    assert (await api.client.get(f"/events/{draft['id']}/jsonld")).status_code == 404
    r = await api.client.get(f"/events/{draft['id']}/jsonld", headers=api.auth())
    assert r.status_code == 200
