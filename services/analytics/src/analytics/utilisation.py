"""Resource utilisation: booked and checked-in hours against open hours, per resource,
kind and location and by hour of the week; no-show and cancellation rates."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from analytics import activity, activity_store
from analytics import suppression as sup
from analytics.openhours import HourOfWeek, open_intervals, spread
from analytics.periods import Period
from analytics.projections import BLOCKS, LOCATIONS, RESOURCES, Db
from analytics.reports import Report, Table
from analytics.scope import Scope

BOOKED = {"confirmed", "checked_in", "no_show"}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Tally:
    """Hours and booking counts of one resource, kind, location or hour of the week."""

    def __init__(self) -> None:
        self.open = 0.0
        self.booked = 0.0
        self.checked_in = 0.0
        self.status: defaultdict[str, int] = defaultdict(int)

    def add(self, other: Tally) -> None:
        self.open += other.open
        self.booked += other.booked
        self.checked_in += other.checked_in
        for k, v in other.status.items():
            self.status[k] += v

    @property
    def bookings(self) -> int:
        return sum(self.status[s] for s in BOOKED)

    def row(self, threshold: int) -> list[Any]:
        """open, booked, checked-in hours, utilisation, bookings, no-show and cancellation
        rates; what rests on fewer bookings than the threshold is suppressed."""
        n = self.bookings
        came, missed = self.status["checked_in"], self.status["no_show"]
        cancelled = self.status["cancelled"]
        booked = sup.guarded(self.booked, n, threshold)
        return [
            round(self.open, 2),
            booked,
            sup.guarded(self.checked_in, n, threshold),
            None if booked is None or self.open <= 0 else round(self.booked / self.open, 4),
            sup.count(n, threshold),
            sup.rate(missed, came + missed, threshold),
            sup.rate(cancelled, n + cancelled, threshold),
        ]


COLUMNS = [
    "open_hours",
    "booked_hours",
    "checked_in_hours",
    "utilisation",
    "bookings",
    "no_show_rate",
    "cancellation_rate",
]


async def utilisation_report(
    db: Db, *, scope: Scope, period: Period, threshold: int, tz: str = "Europe/Helsinki"
) -> Report:
    locations = {d["_id"]: d async for d in db[LOCATIONS].find(scope.match)}
    resources = {
        d["_id"]: d async for d in db[RESOURCES].find({**scope.match, "kind": {"$exists": True}})
    }
    # Bookings from the activity counters (see activity.py): statuses by the month a
    # booking starts in, hours by the month they fall in.
    counts = await activity_store.read_counts(db, scope.match, period.months)
    per_resource: defaultdict[str, Tally] = defaultdict(Tally)
    per_hour: defaultdict[HourOfWeek, Tally] = defaultdict(Tally)

    blocks: defaultdict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    async for block in db[BLOCKS].find({**scope.match, "ends_at": {"$gt": period.start}}):
        if block["starts_at"] < period.end:
            blocks[block["resource_id"]].append((block["starts_at"], block["ends_at"]))
    intervals: dict[str, list[tuple[datetime, datetime]]] = {}
    open_cache: dict[str, dict[HourOfWeek, float]] = {}
    for rid, res in resources.items():
        location = locations.get(res.get("location_id"))
        if location is None or not res.get("active", True):
            continue
        zone = location.get("timezone") or tz
        if location["_id"] not in open_cache:
            intervals[location["_id"]] = list(open_intervals(location, period))
            hours: defaultdict[HourOfWeek, float] = defaultdict(float)
            for start, end in intervals[location["_id"]]:
                for slot, h in spread(start, end, zone).items():
                    hours[slot] += h
            open_cache[location["_id"]] = hours
        for slot, h in open_cache[location["_id"]].items():
            per_resource[rid].open += h
            per_hour[slot].open += h
        # A blocked resource (maintenance, an event) is not open for booking meanwhile.
        for b_start, b_end in blocks.get(rid, []):
            for o_start, o_end in intervals[location["_id"]]:
                start, end = max(b_start, o_start), min(b_end, o_end)
                if end > start:
                    for slot, h in spread(start, end, zone).items():
                        per_resource[rid].open -= h
                        per_hour[slot].open -= h

    for rid, c in activity.by_id(counts, "r").items():
        tally = per_resource[rid]
        _count(tally, c)
        kind = _most(c.get("k") or {})
        if kind is not None:  # a resource known only from its bookings
            resources.setdefault(
                rid, {"kind": kind, "location_id": _most(c.get("l") or {}), "name": {}}
            )
    for key, c in activity.by_id(counts, "h").items():
        day, hour = key.split("_")
        _count(per_hour[(int(day), int(hour))], c)

    by_kind: defaultdict[str, Tally] = defaultdict(Tally)
    by_location: defaultdict[str, Tally] = defaultdict(Tally)
    for rid, tally in per_resource.items():
        res = resources.get(rid, {})
        by_kind[res.get("kind", "unknown")].add(tally)
        by_location[res.get("location_id", "unknown")].add(tally)
    total = Tally()
    for tally in per_resource.values():
        total.add(tally)

    report = Report("utilisation", scope.name, period.label, threshold)
    report.tables.append(
        Table("summary", "All resources", ["scope", *COLUMNS], [["all", *total.row(threshold)]])
    )
    report.tables.append(
        Table(
            "by_resource",
            "Per resource",
            ["resource", "name", "kind", "location", *COLUMNS],
            [
                [
                    rid,
                    _name(resources.get(rid, {})),
                    resources.get(rid, {}).get("kind"),
                    resources.get(rid, {}).get("location_id"),
                    *tally.row(threshold),
                ]
                for rid, tally in sorted(per_resource.items())
            ],
        )
    )
    report.tables.append(
        Table("by_kind", "Per resource kind", ["kind", *COLUMNS],
              [[k, *t.row(threshold)] for k, t in sorted(by_kind.items())])
    )  # fmt: skip
    report.tables.append(
        Table(
            "by_location",
            "Per location",
            ["location", "name", *COLUMNS],
            [
                [k, _name(locations.get(k, {})), *t.row(threshold)]
                for k, t in sorted(by_location.items())
            ],
        )
    )
    report.tables.append(
        Table(
            "by_hour_of_week",
            "By hour of the week (local time)",
            ["slot", "weekday", "hour", *COLUMNS],
            [
                [f"{DAYS[d]} {h:02d}", DAYS[d], h, *per_hour[(d, h)].row(threshold)]
                for d in range(7)
                for h in range(24)
                if (d, h) in per_hour
            ],
        )
    )
    return report


def _count(tally: Tally, counts: dict[str, Any]) -> None:
    tally.booked += counts.get("b", 0) / 3600
    tally.checked_in += counts.get("c", 0) / 3600
    for status, n in (counts.get("s") or {}).items():
        tally.status[status] += n


def _most(seen: dict[str, int]) -> str | None:
    """The value most booked bookings gave (they all give the same one unless it
    changed); None when no booking is booked now."""
    given = {k: n for k, n in seen.items() if n > 0}
    return activity.unfield(max(given, key=lambda k: (given[k], k))) if given else None


def _name(doc: dict[str, Any]) -> str:
    names = doc.get("name") or {}
    return names.get("fi") or names.get("en") or next(iter(names.values()), "")
