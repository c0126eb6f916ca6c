"""Activity: attendances and bookings as rows, and the counters the usage, utilisation and
network reports read instead of the rows.

A row is the latest version (by rank, time, fact id) of one attendance (an event and
registration) or booking. A person's rows live in their `p_people` document, which each
of their facts rewrites anyway (entries, serial): an attendance or booking then costs the
store no document of its own, and the store's cost is per written document. Rows without
a person (no user, or an erased one) have a document each in p_attendance / p_bookings.

Reports read counters per municipality and month (`p_activity_counts`). A row's counters
are a pure function of the row: when a row changes, the new row's counters minus the old
row's are added, so the counters are the sum over all rows whatever order the facts
arrive in, a repeated fact adds nothing, and a replay rebuilds them exactly. Hours are
counted in whole seconds, so the sums do not depend on the order of adding either.
Distinct staff learners are a per-person figure: they are kept with the ESF counters
(`esf_counts.contributions`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from analytics.openhours import clip, spread
from analytics.periods import Period, month_of, parse_period, period_keys
from analytics.scope import NETWORK

Counts = dict[str, dict[str, int]]  # counters document id -> {field path: increment}

ATTENDED, BOOKING = "a", "b"  # row kinds: the prefix of a row's name in the person document
BOOKED = {"confirmed", "checked_in", "no_show"}
STAFF_TRAINING = "staff_training"


def field(value: str) -> str:
    """An id as a field name (no dots or dollars), reversibly."""
    return value.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unfield(value: str) -> str:
    return value.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def row_name(kind: str, key: str) -> str:
    return f"{kind}:{field(key)}"


def split_name(name: str) -> tuple[str, str]:
    kind, key = name.split(":", 1)
    return kind, unfield(key)


def doc_id(municipality: str, month: str) -> str:
    return f"{municipality}|{month}"


def _seconds(hours: float) -> int:
    return round(hours * 3600)


def row_counts(kind: str, row: dict[str, Any] | None, tz: str) -> Counts:
    """What one row counts for, per counters document."""
    if row is None:
        return {}
    out: Counts = {}

    def add(month: str, path: str, n: int) -> None:
        doc = out.setdefault(doc_id(row["municipality"], month), {})
        doc[path] = doc.get(path, 0) + n

    if kind == ATTENDED:
        event, seats = field(row["event_id"]), int(row.get("seats", 1))
        add(row["month"], f"e.{event}.{'in' if row['attended'] else 'out'}", seats)
        if row["attended"] and row["kind"] == STAFF_TRAINING:
            add(row["month"], f"t.{event}", 1)
            add(row["month"], "th", _seconds(float(row.get("hours", 0.0))) * seats)
        return out

    resource, status = field(row["resource_id"]), row["status"]
    add(row["month"], f"r.{resource}.s.{status}", 1)
    if status not in BOOKED:
        return out
    add(row["month"], f"r.{resource}.k.{field(row['resource_kind'])}", 1)
    add(row["month"], f"r.{resource}.l.{field(row['location_id'])}", 1)
    checked_in = status == "checked_in"
    if row["resource_kind"] == "mentor_hours":
        add(row["month"], "m.n", 1)
        add(row["month"], "m.s", round((row["ends_at"] - row["starts_at"]).total_seconds()))
        if checked_in:
            add(row["month"], "m.met", 1)
    # Hours by the month they fall in (a report's period is whole months).
    for month, (start, end) in _by_month(row["starts_at"], row["ends_at"], tz):
        for (day, hour), h in spread(start, end, row.get("timezone") or tz).items():
            seconds, slot = _seconds(h), f"h.{day}_{hour:02d}"
            add(month, f"r.{resource}.b", seconds)
            add(month, f"{slot}.b", seconds)
            add(month, f"{slot}.s.{status}", 1)
            if checked_in:
                add(month, f"r.{resource}.c", seconds)
                add(month, f"{slot}.c", seconds)
    return out


def _by_month(
    start: datetime, end: datetime, tz: str
) -> list[tuple[str, tuple[datetime, datetime]]]:
    out = []
    month = month_of(start, tz)
    while True:
        span = clip(start, end, _month(month, tz))
        if span is None:
            break
        out.append((month, span))
        year, mm = map(int, month.split("-"))
        month = f"{year + 1:04d}-01" if mm == 12 else f"{year:04d}-{mm + 1:02d}"
    return out


@lru_cache(maxsize=512)
def _month(month: str, tz: str) -> Period:
    return parse_period(month, tz)  # every booking's counters, twice per change


def change(kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None, tz: str) -> Counts:
    """The counters' change when a row goes from `old` to `new` (either may be None)."""
    removed = {
        doc: {path: -n for path, n in fields.items()}
        for doc, fields in row_counts(kind, old, tz).items()
    }
    return combine(removed, row_counts(kind, new, tz))


def combine(*changes: Counts) -> Counts:
    """The sum of counters' changes (what cancels out is 0, and `add_counts` skips it)."""
    out: Counts = {}
    for counts in changes:
        for doc, fields in counts.items():
            bucket = out.setdefault(doc, {})
            for path, n in fields.items():
                bucket[path] = bucket.get(path, 0) + n
    return out


def newer(new: list[Any], old: list[Any] | None) -> bool:
    """Latest wins: (rank, time, fact id), a repeat of the same version included."""
    return old is None or tuple(new) >= tuple(old)


def learners(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """Staff learners per (scope, period): one for a person (or a row without one) with
    an attended staff training in it, in its municipality and the network."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        if row.get("attended") and row.get("kind") == STAFF_TRAINING:
            for scope in (row["municipality"], NETWORK):
                for key in period_keys(row["month"]):
                    out[(scope, key)] = {"staff_learners": 1}
    return out


def attendances(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A person's attendance rows (their rows by name)."""
    return [row for name, row in rows.items() if name.startswith(f"{ATTENDED}:")]


def by_id(counts: dict[str, Any], section: str) -> dict[str, Any]:
    """A section of the counters keyed by the real ids, without what sums to nothing."""
    return {unfield(k): v for k, v in (counts.get(section) or {}).items() if _nonzero(v)}


def _nonzero(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_nonzero(v) for v in value.values())
    return bool(value)
