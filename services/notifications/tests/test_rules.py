"""Pure rules without broker or store: channels by preference, quiet hours, templates
and their fallback language, calendar entries."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from notifications import calendar, preferences
from notifications.templates import Templates, pick

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


def test_calendar_only_for_confirmations() -> None:
    context = {
        "registration_id": "r1",
        "title": {"fi": "Paja", "en": "Workshop"},
        "venue_name": {"fi": "Oodi"},
        "starts_at": "2030-01-07T10:00:00+00:00",
        "ends_at": "2030-01-07T12:00:00+00:00",
    }
    ics = calendar.ics_for("registration_confirmed", context, language="en", fallback="fi")
    assert ics is not None
    text = ics.decode()
    assert "SUMMARY:Workshop" in text and "LOCATION:Oodi" in text
    assert calendar.ics_for("registration_cancelled", context, language="en", fallback="fi") is None
