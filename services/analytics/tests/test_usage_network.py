"""Usage, utilisation and network figures for March 2026 from a known stream fed through
the real broker (analytics_stream.march_stream); every expected value is counted by hand
in the comments."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from analytics_stream import march_stream
from conftest import Harness, start_harness, table

from kit.testing import TestIssuer


@pytest.fixture(scope="module")
async def fed(analytics_settings: Callable[..., Any], issuer: TestIssuer) -> AsyncIterator[Harness]:
    h, client = await start_harness(analytics_settings(), issuer)
    try:
        await h.feed(march_stream())
        yield h
    finally:
        await client.aclose()
        await h.svc.stop()


def rows(report: dict[str, Any], name: str) -> dict[str, list[Any]]:
    for t in report["tables"]:
        if t["name"] == name:
            return {row[0]: row[1:] for row in t["rows"]}
    raise KeyError(name)


async def test_usage_by_kind_venue_audience_topic_language(fed: Harness) -> None:
    r = await fed.report("usage", "2026-03")
    # Held: W1 W2 C1 A1 A2 S1 (X1 was cancelled). Attended: 6 + 5 + 3 + 5 + 5 = 24.
    assert table(r, "summary") == {
        "events_held": 6,
        "events_cancelled": 1,
        "attendances": 24,
        "visits_without_registration": 30,
        "users_registered": 6,  # w1..w6 in March (w7 in February)
    }
    # course 3 is suppressed and the smallest other (meetup 5) with it.
    assert rows(r, "by_kind") == {
        "avaa_tila": [1, 0, 30],
        "course": [1, None, 0],
        "meetup": [1, None, 0],
        "staff_training": [1, 5, 0],
        "workshop": [2, 11, 0],
    }
    # Library venues: library 16 (W1 6, W2 5, S1 5), online 3 -> both hidden.
    assert rows(r, "by_venue_kind") == {"library": [3, None, 0], "online": [1, None, 0]}
    # Avaa tila places on their own: the park pop-up's visits, the shopping-centre meetup.
    assert rows(r, "avaa_tila") == {"park": [1, 0, 30], "shopping_centre": [1, 5, 0]}
    assert rows(r, "by_audience") == {
        "everyone": [2, 8, 0], "immigrants": [1, 6, 0], "none": [2, 5, 30], "students": [2, 11, 0]
    }  # fmt: skip
    assert rows(r, "by_topic") == {"design": [2, 8, 0], "none": [2, 5, 30], "python": [2, 11, 0]}
    assert rows(r, "by_language") == {"en": [2, 9, 0], "fi": [3, 16, 0], "none": [2, 5, 30]}
    # 12 confirmed (W1 7, W2 5), 5 cancelled (w16..w20), 1 waitlisted; 1 did not come.
    assert table(r, "registrations") == {
        "registrations_confirmed": 12,
        "registrations_waitlisted": None,
        "registrations_cancelled": 5,
        "cancellation_rate": 0.2941,
        "attended": 24,
        "not_attended": None,
        "no_show_rate": None,
    }


async def test_utilisation_per_resource_kind_location_and_hour_of_week(fed: Harness) -> None:
    r = await fed.report("utilisation", "2026-03")
    cols = ["open", "booked", "checked_in", "util", "bookings", "no_show", "cancel"]
    by_resource = {
        k: dict(zip(cols, v[3:], strict=True)) for k, v in rows(r, "by_resource").items()
    }
    assert set(by_resource) == {"R2", "R3", "MH1"}  # Kouvola's KR is not here
    # L2 is open 21 weekdays x 8 h (closed Fri 20 March) = 168 h. R2: 10 bookings x 2 h,
    # 5 checked in, 5 no-shows, and 5 cancelled that do not count as booked.
    assert by_resource["R2"] == {
        "open": 168.0, "booked": 20.0, "checked_in": 10.0, "util": 0.119,
        "bookings": 10, "no_show": 0.5, "cancel": 0.3333,
    }  # fmt: skip
    # R3 has 2 bookings: every figure resting on them is suppressed; 6 h blocked.
    assert by_resource["R3"] == {
        "open": 162.0, "booked": None, "checked_in": None, "util": None,
        "bookings": None, "no_show": None, "cancel": None,
    }  # fmt: skip
    # L3 weekdays 12-14: 22 x 2 h = 44 h; 5 mentor hours checked in.
    assert by_resource["MH1"] == {
        "open": 44.0, "booked": 5.0, "checked_in": 5.0, "util": 0.1136,
        "bookings": 5, "no_show": 0.0, "cancel": 0.0,
    }  # fmt: skip
    assert rows(r, "by_kind")["meeting_room"] == [168.0, 20.0, 10.0, 0.119, 10, 0.5, 0.3333]
    assert rows(r, "by_kind")["studio"] == [162.0, *[None] * 6]
    # L2: 330 open h, 24 booked h (R2 20 + R3 4), 12 bookings, 5 of 10 attended bookings missed.
    assert rows(r, "by_location")["L2"] == ["L2", 330.0, 24.0, 10.0, 0.0727, 12, 0.5, 0.2941]
    # All: open 374 h, booked 29 h, checked in 15 h, 17 bookings, 5 no-shows of 15.
    assert rows(r, "summary")["all"] == [374.0, 29.0, 15.0, 0.0775, 17, 0.3333, 0.2273]
    hours = rows(r, "by_hour_of_week")
    # Thursday 10-11: R2 and R3 open on 4 Thursdays, but R3 not on the blocked 12th: 8 - 1.
    assert hours["thu 10"] == ["thu", 10, 7.0, 0.0, 0.0, 0.0, 0, None, None]
    # Monday 10-11: 5 Mondays x 2 L2 resources open; 5 one-hour parts of R2's bookings.
    assert hours["mon 10"] == ["mon", 10, 10.0, 5.0, 5.0, 0.5, 5, 0.0, 0.0]
    # Monday 12-13: L2 (10 h) and L3 (5 h) open; 5 no-shows booked.
    assert hours["mon 12"] == ["mon", 12, 15.0, 5.0, 0.0, 0.3333, 5, 1.0, 0.0]
    # Wednesday 10-11: the 2 studio bookings are suppressed.
    assert hours["wed 10"][3:] == [None, None, None, None, None, None]
    kouvola = await fed.report("utilisation", "2026-03", scope="kouvola", roles=["analyst"])
    # KL: Mondays 8-10 = 5 x 2 = 10 h; 6 one-hour bookings (one on Tuesday 31 March).
    assert rows(kouvola, "by_resource")["KR"][3:] == [10.0, 6.0, 0.0, 0.6, 6, None, 0.0]


async def test_network_mentoring_skills_progression_staff_learning(fed: Harness) -> None:
    r = await fed.report("network", "2026-03")
    # m1..m5 still active at the end of March (m6 stopped on 10 March); MH1 offers
    # L3's 44 hours; 5 one-hour meetings booked and held.
    assert table(r, "mentoring") == {
        "mentors_with_active_offer": 5,
        "mentor_hour_resources": 1,
        "office_hours_offered": 44.0,
        "office_hours_booked": 5.0,
        "mentor_bookings": 5,
        "mentor_meetings_held": 5,
    }
    assert table(r, "mentors_by_kind") == {"peer_mentor": 5}
    # skill: offering, asking, mentors, events, attendances (python: W1 6 + W2 5;
    # design: C1 3 + A2 5). X1 (python) was cancelled.
    assert rows(r, "skills") == {"design": [5, 5, 0, 2, 8], "python": [5, 5, 5, 2, 11]}
    assert table(r, "skill_levels") == {
        "beginner": 0, "intermediate": 5, "advanced": 5, "professional": 0, "not_given": 0
    }  # fmt: skip
    assert rows(r, "skill_progression") == {"2026-03": [5, 5]}
    # S1: 5 staff x 3 h.
    assert table(r, "staff_learning") == {
        "staff_learners": 5, "learning_hours": 15.0, "trainings_attended": 5, "training_sessions": 1
    }  # fmt: skip
    february = await fed.report("network", "2026-02")
    assert table(february, "skill_levels")["beginner"] == 5
    assert rows(february, "skill_progression") == {"2026-02": [0, 0]}
    # m6 was still active at the end of February; no mentor bookings yet.
    assert table(february, "mentoring")["mentors_with_active_offer"] == 6
    assert table(february, "mentoring")["mentor_bookings"] == 0


async def test_reports_isolated_by_municipality(fed: Harness) -> None:
    kouvola = await fed.report("usage", "2026-03", municipality="kouvola")
    assert table(kouvola, "summary") == {
        "events_held": 1,
        "events_cancelled": 0,
        "attendances": 7,
        "visits_without_registration": 0,
        "users_registered": 0,
    }
    for name in ("usage", "utilisation", "network"):
        denied = await fed.get(f"/analytics/reports/{name}", {"municipality": "kouvola"})
        assert denied.status_code == 403


async def test_dashboard_and_charts_of_the_other_reports(fed: Harness) -> None:
    response = await fed.get("/analytics/dashboard", {"period": "2026-03"})
    assert response.status_code == 200
    data = response.json()
    assert data["scope"] == "helsinki" and data["period"] == "2026-03"
    assert data["kpis"] == {
        "participants": 0,  # nobody in this stream has an ESF profile
        "visits_without_registration": 30,
        "supported_organisations": 0,
        "events_held": 6,
        "attendances": 24,
        "utilisation": 0.0775,
        "booked_hours": 29.0,
        "mentors_with_active_offer": 5,
        "mentor_meetings_held": 5,
        "staff_learning_hours": 15.0,
    }
    by_kind = data["series"]["attendances_by_kind"]
    assert dict(zip(by_kind["labels"], by_kind["values"], strict=True))["course"] is None
    for name in ("usage", "utilisation", "network"):
        for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
            chart = await fed.get(f"/analytics/charts/{name}.{fmt}", {"period": "2026-03"})
            assert chart.status_code == 200, (name, fmt)
            assert chart.content.lstrip().startswith(magic)
        export = await fed.get(f"/analytics/exports/{name}.csv", {"period": "2026-03"})
        assert export.status_code == 200 and export.text.count("\n") > 5
    denied = await fed.get("/analytics/dashboard", {"municipality": "network"})
    assert denied.status_code == 403
    query = {"period": "2026-03", "municipality": "network"}
    network = await fed.get("/analytics/dashboard", query, roles=["analyst"])
    assert network.json()["kpis"]["attendances"] == 31  # Helsinki 24 + Kouvola 7
