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
    for i in range(7, 13):
        consent = {"user_id": f"u{i}", "purpose": "esf_statistics", "granted": True,
                   "changed_at": "2026-01-05T09:00:00Z"}  # fmt: skip
        out.append(_ev(idc.CONSENT_CHANGED, consent, "helsinki", hel))
    revoked = {"user_id": "u12", "purpose": "esf_statistics", "granted": False,
               "changed_at": "2026-02-01T09:00:00Z"}  # fmt: skip
    sensitive = {"user_id": "u7", "purpose": "esf_sensitive", "granted": True,
                 "changed_at": "2026-01-05T09:00:00Z"}  # fmt: skip
    out.append(_ev(idc.CONSENT_CHANGED, revoked, "helsinki", "2026-02-01T09:00:00"))
    out.append(_ev(idc.CONSENT_CHANGED, sensitive, "helsinki", hel))
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


def local(day: int, hour: int) -> str:
    """A March 2026 moment in Helsinki time, as ISO with its offset (DST starts 29 March)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(2026, 3, day, hour, tzinfo=ZoneInfo("Europe/Helsinki")).isoformat()


MONDAYS = [2, 9, 16, 23, 30]
TUESDAYS = [3, 10, 17, 24, 31]
WEEKDAYS_8_16 = {str(d): [{"opens": "08:00:00", "closes": "16:00:00"}] for d in range(5)}


def _t(text: str) -> str:
    return text[:19]


def march_stream() -> list[CloudEvent]:
    """Usage, utilisation and network figures for Helsinki, March 2026 (and a Kouvola
    location and event that must stay out of Helsinki's figures)."""
    out: list[CloudEvent] = []
    lib, sc = "library", "shopping_centre"
    ev_ = [
        ("W1", "workshop", local(3, 10), local(3, 12), ["immigrants", "students"], ["python"],
         ["fi", "en"], lib),
        ("W2", "workshop", local(10, 10), local(10, 12), ["students"], ["python"], ["fi"], lib),
        ("C1", "course", local(11, 10), local(11, 12), ["everyone"], ["design"], ["en"], "online"),
        ("A1", "avaa_tila", local(14, 10), local(14, 14), [], [], [], "park"),
        ("A2", "meetup", local(20, 10), local(20, 12), ["everyone"], ["design"], ["fi"], sc),
        ("S1", "staff_training", local(18, 9), local(18, 12), [], [], [], lib),
        ("X1", "workshop", local(25, 10), local(25, 12), ["students"], ["python"], ["fi"], lib),
    ]  # fmt: skip
    for eid, kind, s, e, aud, topics, langs, vk in ev_:
        out.append(
            event(eid, kind, s, e, audiences=aud, topics=[{"skill": t} for t in topics],
                  languages=langs, venue_id=f"V-{vk}", venue_kind=vk,
                  registration_required=eid != "A1")
        )  # fmt: skip
    out.append(
        _ev(evc.EVENT_CANCELLED,
            {"event_id": "X1", "title": {"fi": "x"}, "starts_at": local(25, 10)},
            "helsinki", "2026-03-01T09:00:00")
    )  # fmt: skip
    out.append(event("K9", "workshop", local(5, 10), local(5, 12), m="kouvola"))
    ends = {e[0]: (e[1], e[2], e[3]) for e in ev_}

    def reg(type_: str, eid: str, uid: str, time: str) -> CloudEvent:
        kind, s, e = ends[eid]
        return registration(type_, eid, uid, kind, s, e, time=time)

    w = [f"w{i}" for i in range(1, 22)]
    for i, u in enumerate(w[:7]):  # six registered in March, one in February
        when = "2026-02-27T10:00:00Z" if i == 6 else "2026-03-01T10:00:00Z"
        data = {"user_id": u, "roles": ["resident"], "registered_at": when}
        out.append(_ev(idc.USER_REGISTERED, data, "helsinki", when[:19]))
    out += [reg(evc.REGISTRATION_CONFIRMED, "W1", u, "2026-02-20T09:00:00") for u in w[:7]]
    out += [reg(evc.REGISTRATION_CONFIRMED, "W2", u, "2026-02-20T09:00:00") for u in w[:5]]
    for u in w[15:20]:  # w16..w20 registered for W2 and cancelled
        out.append(reg(evc.REGISTRATION_CONFIRMED, "W2", u, "2026-02-20T09:00:00"))
        out.append(reg(evc.REGISTRATION_CANCELLED, "W2", u, "2026-02-25T09:00:00"))
    out.append(
        registration(evc.REGISTRATION_WAITLISTED, "W1", "w21", *ends["W1"], position=1,
                     time="2026-02-21T09:00:00")
    )  # fmt: skip

    def att(eid: str, uid: str, attended: bool = True, m: str = "helsinki") -> CloudEvent:
        kind, s, _ = ends.get(eid, ("workshop", local(5, 10), local(5, 12)))
        hours = 3.0 if eid == "S1" else 2.0
        return attend(eid, uid, kind, s, hours, m=m, attended=attended)

    out += [att("W1", u) for u in w[:6]] + [att("W1", "w7", attended=False)]
    out += [att("W2", u) for u in w[:5]]
    out += [att("C1", u) for u in ["w8", "w9", "w10"]]
    out += [att("A2", u) for u in ["w11", "w12", "w13", "w14", "w15"]]
    out += [att("S1", u) for u in ["s1", "s2", "s3", "s4", "s5"]]
    out += [att("K9", f"k{i}", m="kouvola") for i in range(7)]
    out.append(visits("A1", 30, "2026-03-14T12:00:00"))

    # Opening hours: L2 weekdays 8-16 but closed on Friday 20 March; L3 weekdays 12-14.
    def hours(
        loc: str, weekly: dict[str, Any], m: str = "helsinki", exceptions: Any = ()
    ) -> CloudEvent:
        data = {
            "location_id": loc,
            "name": {"fi": loc},
            "weekly": weekly,
            "exceptions": list(exceptions),
        }
        return _ev(bk.LOCATION_HOURS_CHANGED, data, m, "2026-01-01T00:00:00")

    out.append(hours("L2", WEEKDAYS_8_16, exceptions=[{"day": "2026-03-20", "closed": True}]))
    out.append(
        hours("L3", {str(d): [{"opens": "12:00:00", "closes": "14:00:00"}] for d in range(5)})
    )
    out.append(hours("KL", {"0": [{"opens": "08:00:00", "closes": "10:00:00"}]}, m="kouvola"))

    def res(rid: str, loc: str, kind: str, m: str = "helsinki", **more: Any) -> CloudEvent:
        data = {"resource_id": rid, "location_id": loc, "kind": kind, "name": {"fi": rid}, **more}
        return _ev(bk.RESOURCE_CHANGED, data, m, "2026-01-01T00:00:00")

    out += [res("R2", "L2", "meeting_room"), res("R3", "L2", "studio"),
            res("MH1", "L3", "mentor_hours", mentor_user_id="m1"),
            res("KR", "KL", "workstation", m="kouvola")]  # fmt: skip

    # R3 is blocked on Thursday 12 March 08-14: 6 of its open hours go.
    block = {"resource_id": "R3", "resource_name": {"fi": "R3"}, "starts_at": local(12, 8),
             "ends_at": local(12, 14), "reason": "huolto"}  # fmt: skip
    out.append(_ev(bk.RESOURCE_BLOCKED, block, "helsinki", "2026-03-01T09:00:00"))

    def bkg(final: str, bid: str, rid: str, kind: str, loc: str, s: str, e: str,
            m: str = "helsinki", **more: Any) -> list[CloudEvent]:  # fmt: skip
        first = booking(bk.BOOKING_CONFIRMED, bid, f"b-{bid}", rid, kind, loc, s, e, m=m,
                        time="2026-02-01T09:00:00", **more)  # fmt: skip
        if final == bk.BOOKING_CONFIRMED:
            return [first]
        return [
            first,
            booking(final, bid, f"b-{bid}", rid, kind, loc, s, e, m=m, time=_t(s), **more),
        ]

    for d in MONDAYS:
        out += bkg(
            bk.BOOKING_CHECKED_IN, f"A{d}", "R2", "meeting_room", "L2", local(d, 10), local(d, 12)
        )
        out += bkg(
            bk.BOOKING_NO_SHOW, f"B{d}", "R2", "meeting_room", "L2", local(d, 12), local(d, 14)
        )
    for d in TUESDAYS:
        out += bkg(
            bk.BOOKING_CANCELLED, f"C{d}", "R2", "meeting_room", "L2", local(d, 10), local(d, 12)
        )
        out += bkg(bk.BOOKING_CHECKED_IN, f"M{d}", "MH1", "mentor_hours", "L3", local(d, 12),
                   local(d, 13), mentor_user_id="m1")  # fmt: skip
    out += bkg(bk.BOOKING_CONFIRMED, "S4", "R3", "studio", "L2", local(4, 10), local(4, 12))
    out += bkg(bk.BOOKING_CONFIRMED, "S11", "R3", "studio", "L2", local(11, 10), local(11, 12))
    for d in [*MONDAYS, 31]:
        out += bkg(bk.BOOKING_CONFIRMED, f"K{d}", "KR", "workstation", "KL", local(d, 8),
                   local(d, 9), m="kouvola")  # fmt: skip

    # Profiles: p1..p5 offer python (beginner, then intermediate from 15 March) and ask for
    # design; p6..p10 offer design (advanced) and ask for python.
    def skills(uid: str, time: str, offered: list[dict[str, Any]], wanted: list[str]) -> CloudEvent:
        data = {
            "user_id": uid,
            "skills_offered": offered,
            "skills_wanted": [{"skill": s} for s in wanted],
        }
        return _ev(idc.PROFILE_UPDATED, data, "helsinki", time)

    for i in range(1, 6):
        out.append(
            skills(
                f"p{i}",
                "2026-01-10T09:00:00",
                [{"skill": "python", "level": "beginner"}],
                ["design"],
            )
        )
        out.append(
            skills(
                f"p{i}",
                "2026-03-15T09:00:00",
                [{"skill": "python", "level": "intermediate"}],
                ["design"],
            )
        )
    for i in range(6, 11):
        out.append(
            skills(
                f"p{i}",
                "2026-01-10T09:00:00",
                [{"skill": "design", "level": "advanced"}],
                ["python"],
            )
        )
    # m1..m6 offer peer mentoring on python; m6 stops on 10 March.
    for i in range(1, 7):
        data = {"user_id": f"m{i}", "active": True, "topics": [{"skill": "python"}]}
        out.append(_ev(idc.MENTOR_OFFER_CHANGED, data, "helsinki", "2026-01-10T09:00:00"))
    out.append(
        _ev(
            idc.MENTOR_OFFER_CHANGED,
            {"user_id": "m6", "active": False},
            "helsinki",
            "2026-03-10T09:00:00",
        )
    )
    return out
