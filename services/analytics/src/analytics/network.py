"""Network: mentor office hours offered and booked, skills offered against skills asked
for, progression of skill levels, and staff learning hours."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from analytics import activity, activity_store, esf_counts
from analytics import suppression as sup
from analytics.openhours import open_intervals
from analytics.periods import Period, month_of
from analytics.projections import (
    EVENTS,
    LOCATIONS,
    MENTORS,
    RESOURCES,
    SKILLS,
    Db,
)
from analytics.reports import Report, Table
from analytics.scope import Scope

LEVELS = ["beginner", "intermediate", "advanced", "professional"]
_RANK = {level: i for i, level in enumerate(LEVELS)}


def _latest(versions: list[dict[str, Any]], until: datetime) -> dict[str, Any] | None:
    before = [v for v in versions if v["at"] < until]
    return max(before, key=lambda v: (v["at"], v["fact"])) if before else None


async def network_report(
    db: Db, *, scope: Scope, period: Period, threshold: int, tz: str = "Europe/Helsinki"
) -> Report:
    report = Report("network", scope.name, period.label, threshold)
    mentors = [d async for d in db[MENTORS].find(scope.match)]
    profiles = [d async for d in db[SKILLS].find(scope.match)]
    in_period = {**scope.match, "month": {"$in": period.months}}
    events = [
        e async for e in db[EVENTS].find(in_period) if not e.get("cancelled") and e.get("kind")
    ]
    # Attendance and mentor bookings from the activity counters (see activity.py).
    counts = await activity_store.read_counts(db, scope.match, period.months)
    attended = {e: n["in"] for e, n in activity.by_id(counts, "e").items() if n.get("in")}
    learners = (await esf_counts.counts(db, scope.name, period.label)).get("staff_learners", 0)

    report.tables.append(await _mentoring(db, scope, period, mentors, counts, threshold))
    report.tables.append(_mentors_by_kind(mentors, period, threshold))
    report.tables.append(_skills(profiles, mentors, events, attended, period, threshold))
    report.tables.append(_levels(profiles, period, threshold))
    report.tables.append(_progression(profiles, period, threshold, tz))
    report.tables.append(_staff_learning(counts, learners, threshold))
    return report


def _active_mentors(mentors: list[dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    out = []
    for m in mentors:
        latest = _latest(m.get("versions", []), period.end)
        if latest and latest["active"]:
            out.append(latest)
    return out


async def _mentoring(
    db: Db,
    scope: Scope,
    period: Period,
    mentors: list[dict[str, Any]],
    counts: dict[str, Any],
    threshold: int,
) -> Table:
    resources = [r async for r in db[RESOURCES].find({**scope.match, "kind": "mentor_hours"})]
    locations = {d["_id"]: d async for d in db[LOCATIONS].find(scope.match)}
    offered = 0.0
    for r in resources:
        location = locations.get(r.get("location_id"))
        if location is None or not r.get("active", True):
            continue
        closed = r.get("closed_at")
        for start, end in open_intervals(location, period):
            if closed is not None and start >= closed:
                continue
            offered += (end - start).total_seconds() / 3600
    # Booked (confirmed, checked in or no-show) office hours, by the month they start in.
    mentoring = counts.get("m") or {}
    booked, met = mentoring.get("n", 0), mentoring.get("met", 0)
    hours = mentoring.get("s", 0) / 3600
    active = len(_active_mentors(mentors, period))
    return Table(
        "mentoring",
        "Mentoring",
        ["indicator", "value"],
        [
            ["mentors_with_active_offer", sup.count(active, threshold)],
            ["mentor_hour_resources", len(resources)],
            ["office_hours_offered", round(offered, 2)],
            ["office_hours_booked", sup.guarded(hours, booked, threshold)],
            ["mentor_bookings", sup.count(booked, threshold)],
            ["mentor_meetings_held", sup.count(met, threshold)],
        ],
    )


def _mentors_by_kind(mentors: list[dict[str, Any]], period: Period, threshold: int) -> Table:
    kinds = Counter(m["kind"] for m in _active_mentors(mentors, period))
    shown = sup.breakdown(dict(kinds), threshold)
    return Table(
        "mentors_by_kind", "Active mentors by kind", ["kind", "mentors"],
        [[k, shown[k]] for k in sorted(shown)],
    )  # fmt: skip


def _skills(
    profiles: list[dict[str, Any]],
    mentors: list[dict[str, Any]],
    events: list[dict[str, Any]],
    attended: dict[str, int],
    period: Period,
    threshold: int,
) -> Table:
    """Per skill: people offering it and asking for it in their profiles (as at the end
    of the period), active mentors offering it, events on it and their attendances."""
    offered: Counter[str] = Counter()
    wanted: Counter[str] = Counter()
    for p in profiles:
        latest = _latest(p.get("versions", []), period.end)
        if latest:
            offered.update({s["skill"] for s in latest.get("offered", [])})
            wanted.update({s["skill"] for s in latest.get("wanted", [])})
    mentoring: Counter[str] = Counter()
    for m in _active_mentors(mentors, period):
        mentoring.update({t["skill"] for t in m.get("topics", [])})
    on_topic: Counter[str] = Counter()
    topics_of: dict[str, list[str]] = {}
    for e in events:
        on_topic.update(e.get("topics", []))
        topics_of[e["_id"]] = e.get("topics", [])
    seats: Counter[str] = Counter()
    for event_id, n in attended.items():
        for t in topics_of.get(event_id, []):
            seats[t] += n
    skills = sorted(set(offered) | set(wanted) | set(mentoring) | set(on_topic))
    c = lambda v: sup.count(v, threshold)  # noqa: E731
    rows: list[list[Any]] = []
    hidden = False
    for s in skills:
        row = [s, c(offered[s]), c(wanted[s]), c(mentoring[s]), on_topic[s], c(seats[s])]
        if on_topic[s] or any(row[i] for i in (1, 2, 3, 5)):
            rows.append(row)
        else:
            # Known only from a few people's profiles: the skill's name is what they typed,
            # so it is suppressed with its counts (one row for all such skills).
            hidden = True
    if hidden:
        rows.append([None, None, None, None, 0, None])
    return Table(
        "skills",
        "Skills offered and asked for",
        ["skill", "people_offering", "people_asking", "mentors", "events", "attendances"],
        rows,
    )


def _levels(profiles: list[dict[str, Any]], period: Period, threshold: int) -> Table:
    counts: Counter[str] = Counter()
    for p in profiles:
        latest = _latest(p.get("versions", []), period.end)
        for s in (latest or {}).get("offered", []):
            counts[s.get("level") or "not_given"] += 1
    cats = [*LEVELS, "not_given"]
    shown = sup.breakdown({k: counts[k] for k in cats}, threshold)
    return Table(
        "skill_levels",
        "Skills offered by level at the end of the period",
        ["level", "skills"],
        [[k, shown[k]] for k in cats],
    )


def _progression(profiles: list[dict[str, Any]], period: Period, threshold: int, tz: str) -> Table:
    """Per month: skills whose level a person raised (against their previous profile)."""
    ups: defaultdict[str, int] = defaultdict(int)
    people: defaultdict[str, set[str]] = defaultdict(set)
    months = set(period.months)
    for p in profiles:
        ordered = sorted(p.get("versions", []), key=lambda v: (v["at"], v["fact"]))
        previous: dict[str, int] = {}
        for v in ordered:
            now = {s["skill"]: _RANK[s["level"]] for s in v.get("offered", []) if s.get("level")}
            month = month_of(v["at"], tz)
            raised = [k for k, r in now.items() if k in previous and r > previous[k]]
            if raised and month in months:
                ups[month] += len(raised)
                people[month].add(p["_id"])
            previous = {**previous, **now}
    return Table(
        "skill_progression",
        "Skill levels raised, by month",
        ["month", "levels_raised", "people"],
        [
            [
                m,
                sup.guarded(ups[m], len(people[m]), threshold),
                sup.count(len(people[m]), threshold),
            ]
            for m in period.months
        ],
    )


def _staff_learning(counts: dict[str, Any], learners: int, threshold: int) -> Table:
    """Attended staff trainings: people (counted once in the period), hours and sessions."""
    sessions = activity.by_id(counts, "t")
    hours = counts.get("th", 0) / 3600
    return Table(
        "staff_learning",
        "Staff learning from staff training",
        ["indicator", "value"],
        [
            ["staff_learners", sup.count(learners, threshold)],
            ["learning_hours", sup.guarded(hours, learners, threshold)],
            ["trainings_attended", sup.count(sum(sessions.values()), threshold)],
            ["training_sessions", len(sessions)],
        ],
    )
