"""The availability read model: each resource's free slots (or free days, for loans) over
a requested range, computed once and held in this process's memory, and checked against
the resource's calendar document on every read.

Every change to a resource's held time moves its calendar's `version` in the same
transaction (a booking or block through the claim in `calendar.py`; a cancellation,
denial, no-show or lifted block through `calendar.release`), and every change to its
rules or hours moves `rules_version`. A read fetches that one document by `_id` (with the
other requests' waiting at that moment, `versions.py`) and serves
the view only when it was computed at the same two numbers, so a writer reads its own
write at once and a change made through any replica is seen by every replica's next read:
there is no lag to wait for and no bus to follow. A view that is not current is computed
again from one query bounded by the (resource_id, held_until) index
(`calendar.held_time`): the bookings that end after the range starts, never the resource's
history, and no sort.

A view holds every slot the opening hours leave free, whatever the time; the parts that
depend on the clock (minimum notice, how far ahead one may book, days already past) are
cut at read time by bisection. Each slot is kept rendered as JSON, so an answer is a join
of byte strings. Memory is bounded by the number of slots held (`availability_cache_slots`,
least recently used views go first): a slot costs about 150 bytes.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bookings import recent
from bookings.availability import free_slots
from bookings.booking import effective_hours, is_staff_of
from bookings.calendar import held_time
from bookings.errors import Invalid
from bookings.location import zone_of
from bookings.opening_hours import (
    any_open_day,
    is_open_day,
    next_open_day,
    open_intervals,
)
from bookings.resource import rules_of
from bookings.versions import Version, Versions
from kit.app import Service
from kit.auth import Principal

MAX_DAYS = 62
# Buffers reach a little outside the range (as in `search.py`).
PAD = timedelta(hours=5)
# Free slots whatever the clock: the clock's cut is made at read time.
DAWN = datetime(1, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class View:
    """A resource's free slots (or days) over one range, at one calendar version."""

    version: Version
    head: bytes  # `{"resource_id": ..., "kind": ..., "slots": [` (or `"days"`)
    tail: bytes  # `], "open": ...` (the closing `, "timezone": ...}` is added when cut)
    timezone: str
    starts: list[Any]  # each slot's start (datetime), or each day (date), ascending
    parts: list[bytes]  # each slot or day as JSON
    loan: bool


@dataclass(frozen=True)
class Answer:
    body: bytes
    etag: str


def check_range(first: date, last: date) -> None:
    if last < first:
        raise Invalid("range", "to must not be before from", field="to")
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid("range", f"at most {MAX_DAYS} days at a time", field="to")


class Timetable:
    def __init__(self, svc: Service, max_slots: int) -> None:
        self.svc = svc
        self.max_slots = max_slots
        self.views: OrderedDict[tuple[str, date, date], View] = OrderedDict()
        self.slots = 0  # held in `views`
        self.versions = Versions(svc.store)

    async def read(
        self,
        resource_id: str,
        first: date,
        last: date,
        principal: Principal,
        now: datetime | None = None,
    ) -> Answer:
        """The resource's availability as the route answers it, and its strong ETag."""
        now = now or datetime.now(UTC)
        version = await self._version(resource_id)
        known = await recent.entry(self.svc, resource_id, principal)  # 404 / 403 first
        check_range(first, last)
        view, known = await self._view(resource_id, known, first, last, version, principal)
        body = self._cut(view, known, principal, now, with_timezone=True)
        # Of the bytes themselves: every replica, and a restarted process, tags the same
        # answer alike (some 20 microseconds for a month of slots).
        return Answer(body, etag_of(body))

    async def read_many(
        self,
        resource_ids: list[str],
        first: date,
        last: date,
        principal: Principal,
        now: datetime | None = None,
    ) -> list[bytes]:
        """Several resources' availability (a location's), each as `read` answers it but
        without the time zone (the location's answer gives it once); their calendars are
        read in one query."""
        now = now or datetime.now(UTC)
        check_range(first, last)
        versions = await self._versions(resource_ids)
        bodies = []
        for resource_id in resource_ids:
            known = await recent.entry(self.svc, resource_id, principal)
            version = versions.get(resource_id, (None, None))
            view, known = await self._view(resource_id, known, first, last, version, principal)
            bodies.append(self._cut(view, known, principal, now, with_timezone=False))
        return bodies

    async def _view(
        self,
        resource_id: str,
        known: recent.Entry,
        first: date,
        last: date,
        version: Version,
        principal: Principal,
    ) -> tuple[View, recent.Entry]:
        """The view at `version`: held, or computed (and kept) when it is not."""
        if known.version != version[1]:  # rules or hours changed since it was cached
            recent.forget(self.svc, resource_id=resource_id)
            known = await recent.entry(self.svc, resource_id, principal)
        key = (resource_id, first, last)
        view = self.views.get(key)
        if view is not None and view.version == version:
            self.views.move_to_end(key)
        else:
            view = await self._compute(known, first, last, version)
            if known.version == version[1]:  # else changed meanwhile: serve, do not keep
                self._keep(key, view)
        return view, known

    async def _version(self, resource_id: str) -> Version:
        # Read together with the other requests' waiting at that moment (versions.py).
        return await self.versions.of(resource_id)

    async def _versions(self, resource_ids: list[str]) -> dict[str, Version]:
        found = self.svc.store.db.calendars.find(
            {"_id": {"$in": resource_ids}}, {"version": 1, "rules_version": 1}
        )
        return {c["_id"]: (c.get("version"), c.get("rules_version")) async for c in found}

    async def _compute(
        self, known: recent.Entry, first: date, last: date, version: Version
    ) -> View:
        resource, location = known.resource, known.location
        rules = rules_of(resource)
        zone = zone_of(location)
        active = resource.get("active", True)
        field = "days" if rules.loan and active else "slots"
        head = _json({"resource_id": resource["_id"], "kind": resource["kind"]})[:-1]
        head += b',"' + field.encode() + b'":['
        tail = b"]"
        starts: list[Any] = []
        parts: list[bytes] = []
        if active:
            start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
            end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
            found = await held_time(self.svc.store, [resource["_id"]], start - PAD, end + PAD)
            held = found[resource["_id"]]
            hours = effective_hours(resource, location)
            if rules.loan:
                day = first
                while day <= last:
                    a = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
                    b = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
                    if is_open_day(hours, day) and not any(s < b and a < e for s, e in held):
                        starts.append(day)
                        parts.append(_json(day.isoformat()))
                    day += timedelta(days=1)
            else:
                periods = open_intervals(hours, zone, first, last)
                for s, e in free_slots(rules, periods, held, now=DAWN, staff=True):
                    starts.append(s)
                    parts.append(_json({"starts_at": s.isoformat(), "ends_at": e.isoformat()}))
                # As search.availability: "closed" apart from "all taken" for a frontend.
                tail += b',"open":' + _json(
                    [{"starts_at": a.isoformat(), "ends_at": b.isoformat()} for a, b in periods]
                )
            if not any_open_day(hours, first, last):
                tail += b',"next_open_day":' + _json(next_open_day(hours, last))
        return View(version, head, tail, location["timezone"], starts, parts, rules.loan)

    def _keep(self, key: tuple[str, date, date], view: View) -> None:
        old = self.views.pop(key, None)
        if old is not None:
            self.slots -= len(old.parts)
        if len(view.parts) > self.max_slots:
            return
        self.views[key] = view
        self.slots += len(view.parts)
        while self.slots > self.max_slots:
            _, dropped = self.views.popitem(last=False)
            self.slots -= len(dropped.parts)

    def _cut(
        self,
        view: View,
        known: recent.Entry,
        principal: Principal,
        now: datetime,
        *,
        with_timezone: bool,
    ) -> bytes:
        """The part of the view the clock allows now (what `search.availability` keeps)."""
        if view.loan:
            today = now.astimezone(zone_of(known.location)).date()
            i, j = bisect_left(view.starts, today), len(view.starts)
        else:
            rules = rules_of(known.resource)
            staff = is_staff_of(principal, known.resource["municipality"])
            earliest = now if staff else now + timedelta(minutes=rules.min_notice_minutes)
            i = bisect_left(view.starts, earliest)
            if staff:
                j = len(view.starts)
            else:
                j = bisect_right(view.starts, now + timedelta(days=rules.max_days_ahead))
        j = max(i, j)
        end = b',"timezone":' + _json(view.timezone) + b"}" if with_timezone else b"}"
        return view.head + b",".join(view.parts[i:j]) + view.tail + end


def etag_of(body: bytes) -> str:
    """A strong ETag of an answer's bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag (weak comparison)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def timetable_for(svc: Service) -> Timetable:
    return svc.part(Timetable)  # provided by the service's factory (main.py)
