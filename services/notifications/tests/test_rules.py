"""Pure rules without broker or store: channels by preference, quiet hours, templates
and their fallback language, calendar entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any

import pytest
from icalendar import Calendar

from notifications import calendar, preferences
from notifications.email import build_message
from notifications.templates import HERE, Rendered, Templates, pick

CONTACT = {"email": "a@example.org", "phone": "+358401", "display_name": "A"}


def test_channels_kind_then_group_then_default() -> None:
    prefs = preferences.effective(
        {
            **CONTACT,
            "channels": {
                "*": ["email"],
                "booking": ["sms", "inapp"],
                "reminder_booking": ["inapp"],
            },
        },
        None,
    )
    assert preferences.channels_for("booking_confirmed", prefs, CONTACT) == ["sms", "inapp"]
    assert preferences.channels_for("reminder_booking", prefs, CONTACT) == ["inapp"]
    assert preferences.channels_for("event_cancelled", prefs, CONTACT) == ["email"]


def test_users_own_preferences_win_and_missing_address_drops_channel() -> None:
    contact = {**CONTACT, "email": None, "channels": {"*": ["email", "inapp"]}}
    prefs = preferences.effective(contact, {"channels": {"*": ["email", "sms"]}})
    assert preferences.channels_for("welcome", prefs, contact) == ["sms"]


def test_erasure_confirmation_cannot_be_silenced() -> None:
    prefs = preferences.effective({**CONTACT, "channels": {"*": []}}, None)
    assert preferences.channels_for("erasure_confirmed", prefs, CONTACT) == ["email"]


@pytest.mark.parametrize(
    ("utc", "until"),
    [
        (datetime(2030, 1, 7, 21, 30, tzinfo=UTC), datetime(2030, 1, 8, 5, 0, tzinfo=UTC)),
        (datetime(2030, 1, 8, 3, 0, tzinfo=UTC), datetime(2030, 1, 8, 5, 0, tzinfo=UTC)),
        (datetime(2030, 1, 8, 10, 0, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_wrap_midnight_in_local_time(utc: datetime, until: datetime | None) -> None:
    # 22:00-07:00 in Helsinki (UTC+2 in January).
    quiet = {"start": time(22, 0), "end": time(7, 0)}
    assert preferences.quiet_until(utc, quiet, "Europe/Helsinki") == until


def test_quiet_hours_within_a_day_and_strings() -> None:
    quiet = {"start": "12:00:00", "end": "13:00:00"}
    noon = datetime(2030, 6, 1, 9, 30, tzinfo=UTC)  # 12:30 in Helsinki (UTC+3)
    assert preferences.quiet_until(noon, quiet, "Europe/Helsinki") == datetime(
        2030, 6, 1, 10, 0, tzinfo=UTC
    )
    assert preferences.quiet_until(noon, None, "Europe/Helsinki") is None


def test_template_language_falls_back() -> None:
    templates = Templates(fallback="sv")
    context = {"name": "Ada"}
    assert templates.render("welcome", context, language="de", timezone="UTC").language == "sv"
    assert templates.render("welcome", context, language=None, timezone="UTC").subject == (
        "Välkommen till Kohtaamo, Ada!"
    )
    assert pick({"en": "Only English"}, "fi", "sv") == "Only English"
    assert pick({"fi": "Suomi", "sv": "Svenska"}, "de", "sv") == "Svenska"


def test_html_is_escaped_text_is_not() -> None:
    rendered = Templates().render("welcome", {"name": "<Ada & Bob>"}, language="en", timezone="UTC")
    assert "Hello <Ada & Bob>," in rendered.text
    assert "Hello &lt;Ada &amp; Bob&gt;," in rendered.html
    assert "<Ada" not in rendered.html


def test_templates_use_the_name_only_as_itself() -> None:
    # What lets the sender render a kind once and put each recipient's name in.
    paths = sorted(HERE.glob("*/*.j2"))
    assert len(paths) >= 3 * 18
    for path in paths:
        source = path.read_text()
        every_use = re.findall(r"\bname\b", source)
        assert len(every_use) == len(re.findall(r"\{\{ name \}\}", source)), path


@pytest.mark.parametrize("language", ["fi", "sv", "en", None])
@pytest.mark.parametrize("name", ['<Åsa & "Bo">  Li', ""])
def test_render_for_a_recipient_is_the_same_as_rendering_for_them(
    language: str | None, name: str
) -> None:
    templates = Templates()
    context = {"title": {"fi": "Iso <tapahtuma>"}, "starts_at": "2030-06-01T09:30:00+00:00"}
    for kind, ctx in (("event_cancelled", {**context, "reason": "Sää & myrsky"}), ("welcome", {})):
        for _ in range(2):  # the second one comes from the cache
            cached = templates.render_for(
                kind, ctx, name=name, language=language, timezone="Europe/Helsinki"
            )
            assert cached == templates.render(
                kind, {**ctx, "name": name}, language=language, timezone="Europe/Helsinki"
            )
    if name:
        assert "Hello &lt;Åsa &amp; &#34;Bo&#34;&gt;  Li," in cached.html or language != "en"
        assert "<Åsa" not in cached.html


def test_calendar_confirms_then_cancels_the_same_entry() -> None:
    context = {
        "registration_id": "r1",
        "title": {"fi": "Paja", "en": "Workshop"},
        "venue_name": {"fi": "Oodi"},
        "starts_at": "2030-01-07T10:00:00+00:00",
        "ends_at": "2030-01-07T12:00:00+00:00",
    }

    def parsed(kind: str, ctx: dict[str, Any]) -> tuple[str, Calendar]:
        ics = calendar.ics_for(kind, ctx, language="en", fallback="fi")
        assert ics is not None
        return ics.method, Calendar.from_ical(ics.data)

    method, confirmed = parsed("registration_confirmed", context)
    [entry] = confirmed.walk("VEVENT")
    assert method == "PUBLISH" and confirmed["METHOD"] == "PUBLISH"
    assert entry["SUMMARY"] == "Workshop" and entry["LOCATION"] == "Oodi"
    assert entry["STATUS"] == "CONFIRMED"
    method, cancelled = parsed("registration_cancelled", context)
    [gone] = cancelled.walk("VEVENT")
    assert method == "CANCEL" and cancelled["METHOD"] == "CANCEL"
    assert gone["UID"] == entry["UID"] == "r1@kohtaamo.fi"
    assert gone["STATUS"] == "CANCELLED"
    # A calendar applies the cancellation only over a lower SEQUENCE.
    assert int(gone["SEQUENCE"]) > int(entry["SEQUENCE"])
    assert gone.decoded("DTSTART") == entry.decoded("DTSTART")
    # A waiting-list place was never in the calendar: nothing to cancel.
    waited = {**context, "was_waitlisted": True}
    for kind, ctx in (("registration_cancelled", waited), ("registration_waitlisted", context)):
        assert calendar.ics_for(kind, ctx, language="en", fallback="fi") is None


def test_closures_cancel_each_entry_they_end_in_its_own_attachment() -> None:
    bookings = [
        {
            "booking_id": f"b{n}",
            "resource_name": {"fi": "Mentori"},
            "location_name": {"fi": "Oodi"},
            "starts_at": f"2030-01-0{n}T10:00:00+00:00",
            "ends_at": f"2030-01-0{n}T11:00:00+00:00",
        }
        for n in (1, 2)
    ]
    found = calendar.attachments_for(
        "mentor_hours_closed",
        {"reason": "sick", "bookings": [*bookings, "not a booking", {"booking_id": ""}]},
        language="fi",
        fallback="fi",
    )
    uids = []
    for attached in found:
        cal = Calendar.from_ical(attached.data)
        [gone] = cal.walk("VEVENT")  # an iTIP message names one UID
        assert attached.method == "CANCEL" == cal["METHOD"] and gone["STATUS"] == "CANCELLED"
        assert int(gone["SEQUENCE"]) == 2 and gone["SUMMARY"] == "Mentori"
        uids.append(str(gone["UID"]))
    assert uids == ["b1@kohtaamo.fi", "b2@kohtaamo.fi"]
    # the event's cancellation: registrations named, the event's title and start
    [event] = calendar.attachments_for(
        "event_cancelled",
        {
            "title": {"fi": "Paja"},
            "starts_at": "2030-01-07T10:00:00+00:00",
            "registrations": [{"registration_id": "r9"}],
        },
        language="en",
        fallback="fi",
    )
    [gone] = Calendar.from_ical(event.data).walk("VEVENT")
    assert gone["UID"] == "r9@kohtaamo.fi" and gone["SUMMARY"] == "Paja"
    assert "DTEND" not in gone  # the event's notice has no end; a CANCEL needs none
    assert calendar.attachments_for("event_cancelled", {}, language="fi", fallback="fi") == []
    # and in a mail, one calendar part per entry
    mail = build_message(
        sender="a@example.org",
        to="b@example.org",
        rendered=Rendered(subject="s", text="t", html="<p>t</p>", short="t", language="fi"),
        notice_id="n1",
        ics=found,
    )
    parts = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert [p.get_param("method") for p in parts] == ["CANCEL", "CANCEL"]
