"""The same booking is one calendar entry whichever service writes it: bookings' personal
feed and notifications' mail attachment give it the same UID, and the mail's cancellation
the SEQUENCE the feed shows for the cancelled booking (above the confirmation's). Both
producers' own code, no broker or store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar

from bookings import feed
from notifications import calendar


def test_feed_and_mail_name_a_booking_alike() -> None:
    starts = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
    facts = {"resource_name": {"fi": "Studio"}, "location_name": {"fi": "Oodi"}}
    stored = {
        "_id": "bk-123",
        "status": "confirmed",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=1),
        "facts": facts,
    }
    context = {
        "booking_id": "bk-123",
        **facts,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
    }

    def feed_entry(status: str) -> Any:
        [entry] = Calendar.from_ical(feed.calendar([{**stored, "status": status}])).walk("VEVENT")
        return entry

    def mail_entry(kind: str) -> Any:
        [attached] = calendar.attachments_for(kind, context, language="fi", fallback="fi")
        [entry] = Calendar.from_ical(attached.data).walk("VEVENT")
        return entry

    booked, mailed = feed_entry("confirmed"), mail_entry("booking_confirmed")
    assert booked["UID"] == mailed["UID"] == "bk-123@kohtaamo.fi"
    assert booked["SEQUENCE"] == mailed["SEQUENCE"]
    gone_feed, gone_mail = feed_entry("cancelled"), mail_entry("booking_cancelled")
    assert gone_feed["UID"] == gone_mail["UID"] == booked["UID"]
    assert gone_feed["SEQUENCE"] == gone_mail["SEQUENCE"] > booked["SEQUENCE"]
    # a block's notice cancels the very entry the feed holds
    [blocked] = calendar.attachments_for(
        "resource_blocked",
        {"reason": "leak", "bookings": [context]},
        language="fi",
        fallback="fi",
    )
    [entry] = Calendar.from_ical(blocked.data).walk("VEVENT")
    assert entry["UID"] == booked["UID"] and entry["SEQUENCE"] == gone_feed["SEQUENCE"]
