"""A known stream of events for two municipalities, with the figures it must give
computed by hand in the tests (see test_esf.py, test_usage.py, test_network.py)."""

from __future__ import annotations

from typing import Any

from contracts import CloudEvent
from contracts import bookings as bk
from contracts import events as evc
from contracts import identity as idc
from contracts.pseudonym import participant_key

KEY = "test-pseudonym-key-for-analytics"


def _ev(type_: str, data: dict[str, Any], municipality: str, time: str | None) -> CloudEvent:
    from datetime import UTC, datetime

    from kit.testing import envelope

    extra = {"time": datetime.fromisoformat(time).replace(tzinfo=UTC)} if time else {}
    return envelope(type_, data, municipality=municipality, **extra)


def profile(uid: str, time: str, m: str = "helsinki", **attrs: Any) -> CloudEvent:
    return _ev(
        idc.PARTICIPANT_PROFILE_CHANGED,
        {"participant": participant_key(uid, KEY), **attrs},
        m,
        time,
    )


def event(
    eid: str, kind: str, starts: str, ends: str, m: str = "helsinki", **more: Any
) -> CloudEvent:
    data = {
        "event_id": eid,
        "kind": kind,
        "title": {"fi": f"Tapahtuma {eid}"},
        "starts_at": starts,
        "ends_at": ends,
        **more,
    }
    return _ev(evc.EVENT_PUBLISHED, data, m, "2026-01-02T08:00:00")


def attend(eid: str, uid: str, kind: str, starts: str, hours: float, m: str = "helsinki",
           attended: bool = True, time: str | None = None) -> CloudEvent:  # fmt: skip
    data = {
        "event_id": eid,
        "registration_id": f"r-{eid}-{uid}",
        "user_id": uid,
        "kind": kind,
        "attended": attended,
        "hours": hours,
        "starts_at": starts,
    }
    # Recorded when the event starts unless said otherwise (a correction comes later).
    return _ev(evc.ATTENDANCE_RECORDED, data, m, time or starts[:19])


def registration(
    type_: str, eid: str, uid: str, kind: str, starts: str, ends: str,
    m: str = "helsinki", time: str | None = None, **more: Any,
) -> CloudEvent:  # fmt: skip
    data = {
        "registration_id": f"r-{eid}-{uid}",
        "event_id": eid,
        "user_id": uid,
        "kind": kind,
        "title": {"fi": "x"},
        "starts_at": starts,
        "ends_at": ends,
        **more,
    }
    return _ev(type_, data, m, time)


def booking(type_: str, bid: str, uid: str, resource: str, kind: str, location: str,
            starts: str, ends: str, m: str = "helsinki", time: str | None = None,
            **more: Any) -> CloudEvent:  # fmt: skip
    data = {
        "booking_id": bid,
        "resource_id": resource,
        "resource_kind": kind,
        "resource_name": {"fi": resource},
        "location_id": location,
        "user_id": uid,
        "starts_at": starts,
        "ends_at": ends,
        **more,
    }
    if type_ == bk.BOOKING_CHECKED_IN:
        data.setdefault("checked_in_at", starts)
    return _ev(type_, data, m, time)


def organisation(oid: str, kind: str, m: str, time: str) -> CloudEvent:
    return _ev(idc.ORGANISATION_REGISTERED, {"organisation_id": oid, "kind": kind}, m, time)


def visits(
    eid: str, n: int, counted: str, m: str = "helsinki", venue_kind: str = "park"
) -> CloudEvent:
    data = {
        "event_id": eid,
        "kind": "avaa_tila",
        "venue_kind": venue_kind,
        "visits": n,
        "counted_at": counted,
    }
    return _ev(evc.VISITS_COUNTED, data, m, counted)


E1 = ("E1", "workshop", "2026-02-10T10:00:00+00:00", "2026-02-10T12:00:00+00:00")
E2 = ("E2", "course", "2026-03-05T12:00:00+00:00", "2026-03-05T15:00:00+00:00")
E5 = ("E5", "meetup", "2026-04-15T15:00:00+00:00", "2026-04-15T16:00:00+00:00")
K1 = ("K1", "workshop", "2026-03-12T09:00:00+00:00", "2026-03-12T11:00:00+00:00")


def esf_stream() -> list[CloudEvent]:
    """Participants u1..u12 in Helsinki Q1 (u13 has no profile, u14 withdrew consent, u15's
    attendance was corrected to not attended); u16..u20 and u5 in Kouvola Q1; u6 and u7
    again in Helsinki Q2."""
    out: list[CloudEvent] = []
    hel = "2026-01-05T09:00:00"
    for i in range(1, 13):
        uid = f"u{i}"
        attrs: dict[str, Any] = {
            "gender": "woman" if i <= 6 else "man" if i <= 11 else "non_binary",
            "age_band": (
                "18_29" if i <= 5 else "30_54" if i <= 10
                else "55_plus" if i == 11 else "under_18"
            ),
            "employment": (
                "unemployed" if i <= 3 else "long_term_unemployed" if i <= 5
                else "employed" if i <= 10 else "inactive" if i == 11 else "not_given"
            ),
            "education": "isced_3_4" if i <= 5 else "isced_5_8" if i <= 11 else "isced_0_2",
        }  # fmt: skip
        if i <= 5:
            attrs["foreign_background"] = True
        if i == 6:
            attrs["disability"] = True
        # u2 gave the profile only after the first entry: its first version counts.
        out.append(profile(uid, "2026-03-20T09:00:00" if i == 2 else hel, **attrs))
    # u1 found work on 1 March: the Q1 report keeps the data of the first entry (February).
    out.append(
        profile("u1", "2026-03-01T09:00:00", gender="woman", age_band="18_29",
                employment="employed", education="isced_3_4", foreign_background=True)
    )  # fmt: skip
    out.append(profile("u14", hel, gender="man"))
    out.append(profile("u14", "2026-02-01T09:00:00", withdrawn=True))
    out.append(profile("u15", hel, gender="man"))
    for i in range(16, 21):
        out.append(profile(f"u{i}", hel, m="kouvola", gender="man", age_band="30_54"))

    out += [
        event(*E1, audiences=["immigrants"], topics=[{"skill": "python"}], languages=["fi", "en"],
              venue_id="V1", venue_kind="library"),
        event(*E2, audiences=["students"], topics=[{"skill": "python"}, {"skill": "design"}],
              languages=["fi"], venue_id="V1", venue_kind="library"),
        event(*E5, audiences=["everyone"], topics=[{"skill": "design"}], languages=["en"],
              venue_id="V1", venue_kind="library"),
        event("E3", "avaa_tila", "2026-05-20T10:00:00+00:00", "2026-05-20T14:00:00+00:00",
              venue_id="P1", venue_kind="park", registration_required=False),
        event(*K1, m="kouvola", venue_id="KV", venue_kind="library"),
    ]  # fmt: skip
    e1_people = ["u1", "u2", "u3", "u4", "u5", "u6", "u13", "u14"]
    out += [attend(E1[0], u, E1[1], E1[2], 2.0) for u in e1_people]
    out += [attend(E2[0], u, E2[1], E2[2], 3.0) for u in ["u1", "u7", "u8", "u9", "u15"]]
    out.append(attend(E2[0], "u15", E2[1], E2[2], 3.0, attended=False, time="2026-03-06T09:00:00"))
    out += [attend(E5[0], u, E5[1], E5[2], 1.0) for u in ["u6", "u7"]]
    out += [
        attend(K1[0], u, K1[1], K1[2], 2.0, m="kouvola")
        for u in ["u5", *[f"u{i}" for i in range(16, 21)]]
    ]

    checkins = [
        ("B10", "u10", "2026-03-10T08:00:00+00:00", "2026-03-10T10:00:00+00:00"),
        ("B11", "u11", "2026-01-20T08:00:00+00:00", "2026-01-20T09:00:00+00:00"),
        ("B12", "u12", "2026-02-01T08:00:00+00:00", "2026-02-01T12:00:00+00:00"),
        ("B01", "u1", "2026-02-12T08:00:00+00:00", "2026-02-12T09:00:00+00:00"),
    ]
    for bid, uid, s, e in checkins:
        out.append(
            booking(
                bk.BOOKING_CONFIRMED,
                bid,
                uid,
                "R1",
                "workstation",
                "L1",
                s,
                e,
                time="2026-01-03T09:00:00",
            )
        )
        out.append(
            booking(bk.BOOKING_CHECKED_IN, bid, uid, "R1", "workstation", "L1", s, e, time=s[:19])
        )

    out += [organisation(f"O-sme-{i}", "sme", "helsinki", "2026-02-01T10:00:00") for i in range(6)]
    out += [
        organisation(f"O-assoc-{i}", "association", "helsinki", "2026-03-01T10:00:00")
        for i in range(5)
    ]
    out.append(organisation("O-k", "sme", "kouvola", "2026-02-01T10:00:00"))
    out.append(visits("E3", 40, "2026-05-20T13:00:00"))
    out.append(visits("E3", 42, "2026-05-20T14:30:00"))  # a corrected count replaces it
    return out
