"""Registrations: sign-ups (individual or group) with a waiting list, automatic promotion
when seats free up, and cancellation by the user, by staff or with the event.

Capacity is enforced inside a transaction that updates the event's seat counters on the
condition that they are still what was read. Concurrent sign-ups for one event in this
process are written in batches (group commit): one transaction for a batch instead of one
per sign-up, which avoids a storm of write conflicts on the event document. Sign-ups from
other processes conflict and their units of work rerun (kit.uow), so the counters stay
exact.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import Field

from contracts import events as ev
from events import clock, store
from events.errors import EventsError, conflict, invalid
from events.parts import Parts
from events.settings import EventsSettings
from events.status import EventStatus, RegistrationStatus
from events.waitlist import Seats, allocate, promotable
from kit import passes
from kit.app import Service
from kit.batch_writer import BatchWriter, Submitted
from kit.conditional import REVISION, bump
from kit.requests import Strict
from kit.uow import UnitOfWork, WriteConflict

ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)


class RegistrationIn(Strict):
    seats: int = Field(default=1, ge=1, le=100, description="More than one: a group sign-up")
    group_name: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200, description="Shown on the list")
    age: int | None = Field(default=None, ge=0, le=130)


@dataclass(frozen=True)
class SignUp:
    user_id: str
    data: RegistrationIn
    name: str | None
    known_age: int | None = None  # verified (verified_age), else the body's age counts


def verified_age(claims: dict[str, Any], data: RegistrationIn, today: date) -> int | None:
    """The age of a person signing up alone whose token carries a birth date identity
    verified (a city login with strong identification); None otherwise, when the sign-up's
    own `age` is the answer (a self-declared date is no better than that)."""
    if data.seats != 1 or data.group_name or claims.get("birthdate_source") != "verified":
        return None
    try:
        born = date.fromisoformat(str(claims.get("birthdate")))
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_open(event: dict[str, Any], data: RegistrationIn, known_age: int | None = None) -> None:
    """Rules a sign-up must pass before it is queued (re-checked in the transaction).
    `known_age`: a verified age, which the sign-up's own `age` cannot override."""
    if event["status"] != EventStatus.PUBLISHED:
        raise conflict("The event is not open for registration.", field="event_id")
    if not event.get("registration_required", True):
        raise conflict("This event needs no registration: just come.", field="event_id")
    now = clock.now()
    opens, closes = event.get("registration_opens_at"), event.get("registration_closes_at")
    if opens and now < _aware(opens):
        raise conflict("Registration has not opened yet.", field="registration_opens_at")
    if now > _aware(closes or event["starts_at"]):
        raise conflict("Registration has closed.", field="registration_closes_at")
    if data.seats > event.get("max_group_size", 10):
        raise invalid("seats", f"At most {event.get('max_group_size', 10)} seats per sign-up.")
    low, high = event.get("min_age"), event.get("max_age")
    if low is not None or high is not None:
        age = known_age if known_age is not None else data.age
        if age is None:
            raise invalid("age", "This event has an age limit: give the participant's age.")
        if (low is not None and age < low) or (high is not None and age > high):
            raise invalid("age", f"The event is for ages {low or 0}-{high or ''}.")


def _aware(value: Any) -> Any:
    return clock.local(value, "UTC")


def facts(
    reg: dict[str, Any], event: dict[str, Any], model: type[ev.RegistrationFacts], **extra: Any
) -> Any:
    return model(
        registration_id=reg["_id"],
        event_id=event["_id"],
        user_id=reg["user_id"],
        seats=reg["seats"],
        group_name=reg.get("group_name"),
        kind=event["kind"],
        title=event["title"],
        venue_name=event.get("venue_name") or {},
        starts_at=event["starts_at"],
        ends_at=event["ends_at"],
        timezone=event["timezone"],
        **extra,
    )


def _emit_for(
    svc: Service[EventsSettings],
    reg: dict[str, Any],
    event: dict[str, Any],
    type_: str,
    payload: Any,
):
    return svc.event(
        type_, payload, municipality=event["municipality"], subject=f"registration/{reg['_id']}"
    )


class Registrar:
    """Batches concurrent sign-ups per event into one transaction each, and lets this
    process's writes to one event's seats take turns: concurrent transactions on the same
    event document abort each other, and under load a cancellation retried against a
    stream of sign-up batches could starve past the gateway's deadline."""

    def __init__(self, svc: Service[EventsSettings], batch: int = 64) -> None:
        self.svc = svc
        self.batch = batch
        self._writer: BatchWriter[str, SignUp, dict[str, Any]] = BatchWriter(
            self._write, batch=batch, name="events-registrar"
        )
        # Gone when nobody holds or waits for them (WeakValueDictionary).
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def turn(self, event_id: str) -> asyncio.Lock:
        lock = self._turns.get(event_id)
        if lock is None:
            lock = self._turns[event_id] = asyncio.Lock()
        return lock

    async def cancel(
        self, *, event_id: str, registration_id: str, by: str, reason: str | None = None
    ) -> dict[str, Any]:
        async with self.turn(event_id):
            return await cancel(self.svc, registration_id=registration_id, by=by, reason=reason)

    async def submit(self, event_id: str, signup: SignUp) -> dict[str, Any]:
        return await self._writer.submit(event_id, signup)

    async def _write(
        self, event_id: str, batch: list[Submitted[SignUp]]
    ) -> list[dict[str, Any] | Exception]:
        async with self.turn(event_id):
            return await write_batch(
                self.svc, event_id, [s.request for s in batch], [s.context for s in batch]
            )


async def write_batch(
    svc: Service[EventsSettings],
    event_id: str,
    signups: list[SignUp],
    contexts: Sequence[contextvars.Context] | None = None,
) -> list[dict[str, Any] | Exception]:
    """One transaction for the sign-ups; each one's events are made in its own context
    (`contexts`, as submitted: its correlation id and trace), else in the current one."""
    db = svc.store.db
    written: list[dict[str, Any]] = []  # the event as this batch left it

    async def work(uow: UnitOfWork) -> list[dict[str, Any] | Exception]:
        session = uow.session
        written.clear()
        event = await db[store.EVENTS].find_one({"_id": event_id}, session=session)
        assert event is not None
        results: list[dict[str, Any] | Exception] = []
        accepted: list[int] = []
        taken_by = await already_registered(db, session, event_id, [s.user_id for s in signups])
        for i, signup in enumerate(signups):
            try:
                check_open(event, signup.data, signup.known_age)
                if signup.user_id in taken_by:
                    raise conflict(
                        "You are already registered.", field="event_id", kind="duplicate"
                    )
            except EventsError as exc:
                results.append(exc)
                continue
            taken_by.add(signup.user_id)
            accepted.append(i)
            results.append({})
        if not accepted:
            return results
        before = Seats(
            event.get("capacity"), event["seats_taken"], event["waiting"], event["waitlist_seq"]
        )
        outcomes, after = allocate(before, [signups[i].data.seats for i in accepted])
        changed = await db[store.EVENTS].update_one(
            {
                "_id": event_id,
                "status": EventStatus.PUBLISHED,
                "capacity": before.capacity,
                "seats_taken": before.taken,
                "waiting": before.waiting,
                "waitlist_seq": before.sequence,
            },
            {
                "$set": {
                    "seats_taken": after.taken,
                    "waiting": after.waiting,
                    "waitlist_seq": after.sequence,
                },
                # Seat counts are shown: the read model keeps the newest revision it saw.
                "$inc": {"revision": 1},
            },
            session=session,
        )
        if changed.matched_count != 1:
            # Someone changed the event since this transaction read it (a store that
            # checks no write conflict of its own lets that through): start over from a
            # fresh snapshot rather than fail the sign-ups.
            raise WriteConflict("event seats changed during the transaction")
        written.append(
            {
                **event,
                "seats_taken": after.taken,
                "waiting": after.waiting,
                "waitlist_seq": after.sequence,
                "revision": event.get("revision", 0) + 1,
            }
        )
        now = clock.now()
        docs, events = [], []
        for i, outcome in zip(accepted, outcomes, strict=True):
            signup = signups[i]
            doc = {
                "_id": f"reg-{uuid.uuid4().hex[:16]}",
                "event_id": event_id,
                "municipality": event["municipality"],
                "user_id": signup.user_id,
                "name": signup.name,
                "seats": signup.data.seats,
                "group_name": signup.data.group_name,
                "status": RegistrationStatus.CONFIRMED
                if outcome.confirmed
                else RegistrationStatus.WAITLISTED,
                "sequence": outcome.sequence,
                "code": secrets.token_hex(4).upper(),
                # the QR code's pass: staff check in with it (kit.passes)
                "checkin_pass": passes.new_pass(passes.REGISTRATION),
                "attended": None,
                "created_at": now,
                "confirmed_at": now if outcome.confirmed else None,
            }
            docs.append(doc)
            results[i] = doc | {"place": outcome.place}
            if outcome.confirmed:
                type_ = ev.REGISTRATION_CONFIRMED
                payload = facts(doc, event, ev.RegistrationConfirmed)
            else:
                type_ = ev.REGISTRATION_WAITLISTED
                payload = facts(doc, event, ev.RegistrationWaitlisted, position=outcome.place)
            made = (svc, doc, event, type_, payload)
            events.append(
                _emit_for(*made) if contexts is None else contexts[i].run(_emit_for, *made)
            )
        await db[store.REGISTRATIONS].insert_many(docs, session=session)
        await uow.emit(*events)
        return results

    results = await svc.uow.run(work)
    if written:  # the writer reads its own seat counts at once (the bus tells the others)
        svc.part(Parts).catalogue.apply(written[0])
    return results


async def already_registered(db: Any, session: Any, event_id: str, users: list[str]) -> set[str]:
    """Which of `users` hold an active registration for the event. The filter is the
    (event_id, user_id) index's own bounds and the status is checked here: with the
    status in the filter too (two `$in` clauses) the embedded store used only `event_id`
    and read every registration of the event on every sign-up, so a sign-up got slower
    with each one before it. MongoDB uses the same index either way."""
    return {
        r["user_id"]
        async for r in db[store.REGISTRATIONS].find(
            {"event_id": event_id, "user_id": {"$in": users}},
            projection={"user_id": 1, "status": 1},
            session=session,
        )
        if r["status"] in ACTIVE
    }


async def promote(
    svc: Service[EventsSettings], session: Any, event: dict[str, Any]
) -> dict[str, Any]:
    """Give free seats to the head of the waiting list, in order; returns the event."""
    if event["status"] != EventStatus.PUBLISHED or not event["waiting"]:
        return event
    free = Seats(event.get("capacity"), event["seats_taken"], 0, 0).free
    if free == 0:
        return event
    db = svc.store.db
    # Each registration takes at least one seat: no more than `free` of the head can be
    # promoted, so no more are read (0: no limit, for an unlimited event).
    waiting = (
        await db[store.REGISTRATIONS]
        .find(
            {"event_id": event["_id"], "status": RegistrationStatus.WAITLISTED},
            sort=[("sequence", 1)],
            limit=free or 0,
            session=session,
        )
        .to_list(None)
    )
    count = promotable(event.get("capacity"), event["seats_taken"], [w["seats"] for w in waiting])
    if count == 0:
        return event
    now = clock.now()
    lucky = waiting[:count]
    changed = await db[store.REGISTRATIONS].update_many(
        {"_id": {"$in": [r["_id"] for r in lucky]}, "status": RegistrationStatus.WAITLISTED},
        bump(
            {
                "$set": {
                    "status": RegistrationStatus.CONFIRMED,
                    "confirmed_at": now,
                    "promoted_at": now,
                }
            }
        ),
        session=session,
    )
    if changed.modified_count != len(lucky):
        # Someone else promoted or cancelled one of them since this transaction's snapshot:
        # start over (the driver retries transient errors) rather than promote twice.
        raise WriteConflict("waiting list changed")
    seats = sum(r["seats"] for r in lucky)
    updated = await store.update_and_read(
        svc, session, {"_id": event["_id"]}, {"$inc": {"seats_taken": seats, "waiting": -count}}
    )
    await svc.emit(
        session,
        *(
            _emit_for(
                svc, r, event, ev.REGISTRATION_PROMOTED, facts(r, event, ev.RegistrationPromoted)
            )
            for r in lucky
        ),
    )
    assert updated is not None  # read in this transaction, so still there
    return updated


async def cancel(
    svc: Service[EventsSettings], *, registration_id: str, by: str, reason: str | None = None
) -> dict[str, Any]:
    async def work(uow: UnitOfWork) -> tuple[dict[str, Any], dict[str, Any]]:
        session = uow.session
        reg = await svc.store.db[store.REGISTRATIONS].find_one(
            {"_id": registration_id}, session=session
        )
        assert reg is not None
        if reg["status"] not in ACTIVE:
            raise conflict("The registration is already cancelled.", field="status")
        return await _cancel_in(svc, session, reg, by=by, reason=reason)

    result, event = await svc.uow.run(work)
    svc.part(Parts).catalogue.apply(event)  # the writer's seat counts at once
    return result


async def cancel_in(
    svc: Service[EventsSettings], session: Any, reg: dict[str, Any], *, by: str, reason: str | None
) -> dict[str, Any]:
    """Cancel an active registration inside the caller's transaction; the freed seats go
    to the waiting list."""
    return (await _cancel_in(svc, session, reg, by=by, reason=reason))[0]


async def _cancel_in(
    svc: Service[EventsSettings], session: Any, reg: dict[str, Any], *, by: str, reason: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cancelled registration and the event as the cancellation left it."""
    db = svc.store.db
    was_waiting = reg["status"] == RegistrationStatus.WAITLISTED
    now = clock.now()
    cancelled = {"status": RegistrationStatus.CANCELLED, "cancelled_at": now, "cancelled_by": by}
    # `reg` was read in this transaction: the written document is known without reading
    # it back (find_one_and_update would scan the collection on the embedded store).
    await db[store.REGISTRATIONS].update_one(
        {"_id": reg["_id"]}, bump({"$set": cancelled}), session=session
    )
    updated = {**reg, **cancelled}
    change = {"waiting": -1} if was_waiting else {"seats_taken": -reg["seats"]}
    event = await store.update_and_read(svc, session, {"_id": reg["event_id"]}, {"$inc": change})
    assert event is not None
    payload = facts(
        reg, event, ev.RegistrationCancelled, cancelled_by=by, reason=reason,
        was_waitlisted=was_waiting,
    )  # fmt: skip
    await svc.emit(session, _emit_for(svc, reg, event, ev.REGISTRATION_CANCELLED, payload))
    return updated, await promote(svc, session, event)


async def cancel_all(
    svc: Service[EventsSettings], session: Any, event: dict[str, Any], *, reason: str | None
) -> int:
    """The event is cancelled: so are its registrations (each one told)."""
    db = svc.store.db
    regs = (
        await db[store.REGISTRATIONS]
        .find({"event_id": event["_id"], "status": {"$in": ACTIVE}}, session=session)
        .to_list(None)
    )
    if not regs:
        return 0
    now = clock.now()
    await db[store.REGISTRATIONS].update_many(
        {"_id": {"$in": [r["_id"] for r in regs]}},
        {
            "$set": {
                "status": RegistrationStatus.CANCELLED,
                "cancelled_at": now,
                "cancelled_by": "event_cancelled",
            },
            "$inc": {REVISION: 1},
        },
        session=session,
    )
    await svc.emit(
        session,
        *(
            _emit_for(
                svc,
                r,
                event,
                ev.REGISTRATION_CANCELLED,
                facts(
                    r,
                    event,
                    ev.RegistrationCancelled,
                    cancelled_by="event_cancelled",
                    reason=reason,
                    was_waitlisted=r["status"] == RegistrationStatus.WAITLISTED,
                ),
            )
            for r in regs
        ),
    )
    return len(regs)


async def find(svc: Service[EventsSettings], registration_id: str) -> dict[str, Any] | None:
    return await svc.store.db[store.REGISTRATIONS].find_one({"_id": registration_id})


async def of_user(
    svc: Service[EventsSettings], user_id: str, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    """A person's registrations, the newest first: `limit` of them from `offset`."""
    regs = svc.store.db[store.REGISTRATIONS]
    found = regs.find({"user_id": user_id}, sort=[("created_at", -1)], skip=offset)
    return await found.to_list(limit)


async def place(svc: Service[EventsSettings], reg: dict[str, Any]) -> int | None:
    """Current place on the waiting list (1 = next in line)."""
    if reg["status"] != RegistrationStatus.WAITLISTED:
        return None
    ahead = await svc.store.db[store.REGISTRATIONS].count_documents(
        {
            "event_id": reg["event_id"],
            "status": RegistrationStatus.WAITLISTED,
            "sequence": {"$lt": reg["sequence"]},
        }
    )
    return ahead + 1


def out(
    reg: dict[str, Any], tz: str, *, place: int | None = None, code: bool = True
) -> dict[str, Any]:
    view = {k: v for k, v in reg.items() if k not in {"_id", "sequence", "place"}}
    view["id"] = reg["_id"]
    view["place"] = place if place is not None else reg.get("place")
    for key in ("created_at", "confirmed_at", "promoted_at", "cancelled_at", "attended_at"):
        if view.get(key) is not None:
            view[key] = clock.local(view[key], tz).isoformat()
    if not code:
        view.pop("code", None)
        view.pop("checkin_pass", None)
    return view
