"""The booking desk: booking requests of one process are written in batches (per lane of
resources, with kit.batch_writer).

Requests that arrive while a batch is being written wait for the next one; each batch is
ONE transaction that claims the calendars of its resources (see `calendar.py`), reads
their held time once, decides every request in arrival order against the stored and the
newly accepted time, and writes the accepted bookings and their events together. The
guarantee is the store's, as for a single booking: another replica's batch touching the
same resource conflicts and retries. Batching only saves round trips under load; a lone
request is written at once, without waiting.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from bookings import rules as rule
from bookings.availability import overlaps
from bookings.calendar import claim, held_time
from bookings.errors import Busy, Clash, RuleBroken
from bookings.facts import booking_event, booking_requested
from bookings.opening_hours import local_day
from bookings.recent import Stale
from bookings.store import HOLDING
from contracts.bookings import BOOKING_REQUESTED
from kit.app import Service
from kit.batch_writer import BatchWriter, Submitted
from kit.uow import UnitOfWork

MAX_BATCH = 64


@dataclass
class Request:
    doc: dict[str, Any]
    rules: rule.Rules
    zone: ZoneInfo
    extra: dict[str, Any]
    # The calendar's `rules_version` the request was checked at (see recent.py).
    version: int | None


Outcome = dict[str, Any] | BaseException


class Desk:
    """Requests go to one of a few lanes by resource; each lane writes one batch at a
    time, so lanes never compete for a calendar and their batches run side by side."""

    def __init__(self, svc: Service, attempts: int = 200, lanes: int = 2) -> None:
        self.svc = svc
        self.attempts = attempts
        self.lanes = lanes
        self._writer: BatchWriter[int, Request, dict[str, Any]] = BatchWriter(
            self._write_lane, batch=MAX_BATCH, name="bookings-desk-lane"
        )

    async def submit(
        self,
        doc: dict[str, Any],
        rules: rule.Rules,
        zone: ZoneInfo,
        extra: dict[str, Any],
        version: int | None,
    ) -> dict[str, Any]:
        """The stored booking, or raises its domain error (or `Stale`: check it again)."""
        lane = zlib.crc32(doc["resource_id"].encode()) % self.lanes
        return await self._writer.submit(lane, Request(doc, rules, zone, extra, version))

    async def _write_lane(self, lane: int, submitted: list[Submitted[Request]]) -> list[Outcome]:
        """One batch of a lane: each request's stored booking or its exception."""
        batch = [s.request for s in submitted]
        try:
            outcomes = await self.svc.uow.run(
                partial(self._write, batch=submitted), attempts=self.attempts
            )
        except DuplicateKeyError:
            # an earlier attempt committed but its answer was lost: read what is stored
            outcomes = {}
            for r in batch:
                stored = await self.svc.store.db.bookings.find_one({"_id": r.doc["_id"]})
                outcomes[r.doc["_id"]] = stored or Busy("Try again.")
        return [outcomes[r.doc["_id"]] for r in batch]

    async def _write(self, uow: UnitOfWork, batch: list[Submitted[Request]]) -> dict[str, Any]:
        session = uow.session
        db = self.svc.store.db
        ids = sorted({s.request.doc["resource_id"] for s in batch})
        checked = sorted(
            {(s.request.doc["resource_id"], s.request.version) for s in batch}, key=str
        )
        # The claim: one write to the calendars of all resources in the batch. Calendars
        # mirror `active` and carry the rules version, so the common case (all active,
        # every request checked against the current rules) needs no further read.
        result = await db.calendars.update_many(
            {
                "$or": [{"_id": rid, "rules_version": version} for rid, version in checked],
                "active": {"$ne": False},
            },
            {"$inc": {"version": 1}},
            session=session,
        )
        inactive: set[str] = set()
        current: dict[str, int | None] = {
            s.request.doc["resource_id"]: s.request.version for s in batch
        }
        if result.matched_count < len(checked):
            await claim(self.svc.store, session, *ids)  # claims the rest too
            active = {
                d["_id"]
                async for d in db.resources.find(
                    {"_id": {"$in": ids}, "active": {"$ne": False}},
                    projection={"_id": 1},
                    session=session,
                )
            }
            inactive = set(ids) - active
            current = {
                d["_id"]: d.get("rules_version")
                async for d in db.calendars.find(
                    {"_id": {"$in": ids}}, projection={"rules_version": 1}, session=session
                )
            }
        low = min(s.request.doc["held_from"] for s in batch)
        high = max(s.request.doc["held_until"] for s in batch)
        held = await held_time(self.svc.store, ids, low, high, session=session)
        outcomes: dict[str, Any] = {}
        accepted: list[Submitted[Request]] = []
        for s in batch:
            r, doc = s.request, s.request.doc
            wanted = (doc["held_from"], doc["held_until"])
            if doc["resource_id"] in inactive:
                outcomes[doc["_id"]] = rule.refuse(
                    "this resource is not bookable now", "resource_id", now=True
                )
                continue
            if r.version != current.get(doc["resource_id"]):
                outcomes[doc["_id"]] = Stale()
                continue
            clash = next((h for h in held[doc["resource_id"]] if overlaps(wanted, h)), None)
            if clash is not None:
                outcomes[doc["_id"]] = Clash(clash)
                continue
            if r.extra.get("quota"):
                mine = await users_bookings_near(self.svc, session, doc, r.zone)
                mine += [
                    (a.request.doc["starts_at"], a.request.doc["ends_at"])
                    for a in accepted
                    if a.request.doc["user_id"] == doc["user_id"]
                    and a.request.doc["resource_id"] == doc["resource_id"]
                ]
                try:
                    rule.check_quota(r.rules, r.zone, doc["starts_at"], doc["ends_at"], mine)
                except RuleBroken as broken:
                    outcomes[doc["_id"]] = broken
                    continue
            held[doc["resource_id"]].append(wanted)
            accepted.append(s)
            outcomes[doc["_id"]] = doc
        if accepted:
            await db.bookings.insert_many([a.request.doc for a in accepted], session=session)
            events = []
            for a in accepted:
                doc = a.request.doc
                about = {"municipality": doc["municipality"], "subject": f"booking/{doc['_id']}"}
                type_, payload = booking_event(doc, **a.request.extra.get("event", {}))
                # made in the request's own context: its correlation id and trace
                events += [
                    a.run(self.svc.event, BOOKING_REQUESTED, booking_requested(doc), **about),
                    a.run(self.svc.event, type_, payload, **about),
                ]
            await uow.emit(*events)
        return outcomes


async def users_bookings_near(
    svc: Service, session: AsyncClientSession, doc: dict[str, Any], zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    day = local_day(doc["starts_at"], zone)
    monday = day - timedelta(days=day.weekday())
    window_from = datetime.combine(monday - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    window_to = window_from + timedelta(days=9)
    cursor = svc.store.db.bookings.find(
        {
            "resource_id": doc["resource_id"],
            "user_id": doc["user_id"],
            "status": {"$in": HOLDING},
            "starts_at": {"$gte": window_from, "$lt": window_to},
        },
        projection={"starts_at": 1, "ends_at": 1},
        session=session,
    )
    return [(b["starts_at"], b["ends_at"]) async for b in cursor]


def desk_for(svc: Service) -> Desk:
    return svc.part(Desk)  # provided by the service's factory (main.py)
