"""Usage: events held and attendance by kind, venue kind (Avaa tila places separately),
audience, topic and language; registrations, cancellations and no-shows."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from analytics import activity, activity_store
from analytics import suppression as sup
from analytics.periods import Period
from analytics.projections import EVENTS, REGISTRATIONS, USERS, VISITS, Db
from analytics.reports import Report, Table
from analytics.scope import Scope

# Venues of the library itself; every other venue kind is an Avaa tila pop-up place.
LIBRARY_VENUES = {"library", "online"}


def is_avaa_tila(event: dict[str, Any]) -> bool:
    return event.get("kind") == "avaa_tila" or (
        event.get("venue_kind") is not None and event["venue_kind"] not in LIBRARY_VENUES
    )


async def find(db: Db, name: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc async for doc in db[name].find(query)]


async def usage_report(
    db: Db, *, scope: Scope, period: Period, threshold: int, tz: str = "Europe/Helsinki"
) -> Report:
    in_period = {**scope.match, "month": {"$in": period.months}}
    events = [
        e
        for e in await find(db, EVENTS, in_period)
        if not e.get("cancelled") and e.get("kind") is not None
    ]
    # Seats attended and not, per event: from the activity counters (see activity.py).
    seats = activity.by_id(await activity_store.read_counts(db, scope.match, period.months), "e")
    attended = Counter({eid: n["in"] for eid, n in seats.items() if n.get("in")})
    absent = Counter({eid: n["out"] for eid, n in seats.items() if n.get("out")})
    registrations = await find(db, REGISTRATIONS, in_period)
    visits = await find(db, VISITS, in_period)
    ids = sorted(set(seats) | {v["_id"] for v in visits})
    known = {e["_id"]: e for e in await find(db, EVENTS, {"_id": {"$in": ids}})}
    visited = Counter({v["_id"]: int(v["visits"]) for v in visits})

    report = Report("usage", scope.name, period.label, threshold)
    held = {e["_id"]: e for e in events}
    people_events = {**held, **{k: v for k, v in known.items() if k not in held}}

    def dimension(
        key: str, values: Any, title: str, multi: bool = False, among: dict[str, Any] | None = None
    ) -> Table:
        n_events: Counter[str] = Counter()
        seats: Counter[str] = Counter()
        heads: Counter[str] = Counter()
        for eid, e in (people_events if among is None else among).items():
            cats = values(e)
            for c in cats:
                if eid in held:
                    n_events[c] += 1
                seats[c] += attended[eid]
                heads[c] += visited[eid]
        cats = sorted(set(n_events) | set(seats) | set(heads))
        shown_seats = _suppress({c: seats[c] for c in cats}, threshold, multi)
        shown_heads = _suppress({c: heads[c] for c in cats}, threshold, multi)
        return Table(
            key,
            title,
            [key.removeprefix("by_"), "events", "attendances", "visits"],
            [[c, n_events[c], shown_seats[c], shown_heads[c]] for c in cats],
        )

    report.tables.append(
        Table(
            "summary",
            "Events and attendance",
            ["indicator", "value"],
            [
                ["events_held", len(events)],
                ["events_cancelled", await _cancelled(db, in_period)],
                ["attendances", sup.count(sum(attended.values()), threshold)],
                ["visits_without_registration", sup.count(sum(visited.values()), threshold)],
                [
                    "users_registered",
                    sup.count(await db[USERS].count_documents(in_period), threshold),
                ],
            ],
        )
    )
    report.tables.append(dimension("by_kind", lambda e: [e["kind"]], "By event kind"))
    library = {k: v for k, v in people_events.items() if not is_avaa_tila(v)}
    popup = {k: v for k, v in people_events.items() if is_avaa_tila(v)}
    venue = lambda e: [e.get("venue_kind") or "unknown"]  # noqa: E731
    report.tables.append(dimension("by_venue_kind", venue, "At library venues", among=library))
    report.tables.append(dimension("avaa_tila", venue, "Avaa tila pop-up places", among=popup))
    report.tables.append(
        dimension("by_audience", lambda e: e.get("audiences") or ["none"], "By audience", True)
    )
    report.tables.append(
        dimension("by_topic", lambda e: e.get("topics") or ["none"], "By topic", True)
    )
    report.tables.append(
        dimension("by_language", lambda e: e.get("languages") or ["none"], "By language", True)
    )
    report.tables.append(_registrations(registrations, attended, absent, threshold))
    return report


def _suppress(counts: dict[str, int], threshold: int, multi: bool) -> dict[str, int | None]:
    # Overlapping categories (an event has several audiences) have no total to subtract
    # from, so only the small cells themselves are hidden.
    if multi:
        return {k: sup.count(v, threshold) for k, v in counts.items()}
    return sup.breakdown(counts, threshold)


async def _cancelled(db: Db, in_period: dict[str, Any]) -> int:
    return await db[EVENTS].count_documents({**in_period, "cancelled": True})


def _registrations(
    registrations: list[dict[str, Any]],
    attended: Counter[str],
    absent: Counter[str],
    threshold: int,
) -> Table:
    by_status: defaultdict[str, int] = defaultdict(int)
    for r in registrations:
        by_status[r["status"]] += int(r.get("seats", 1))
    confirmed, cancelled = by_status["confirmed"], by_status["cancelled"]
    came, missed = sum(attended.values()), sum(absent.values())
    return Table(
        "registrations",
        "Registrations, cancellations and no-shows",
        ["indicator", "value"],
        [
            ["registrations_confirmed", sup.count(confirmed, threshold)],
            ["registrations_waitlisted", sup.count(by_status["waitlisted"], threshold)],
            ["registrations_cancelled", sup.count(cancelled, threshold)],
            ["cancellation_rate", sup.rate(cancelled, confirmed + cancelled, threshold)],
            ["attended", sup.count(came, threshold)],
            ["not_attended", sup.count(missed, threshold)],
            ["no_show_rate", sup.rate(missed, came + missed, threshold)],
        ],
    )
