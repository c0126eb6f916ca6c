"""Outbox: events are stored in the same transaction as the state change that causes
them; the relay publishes them with confirms and then deletes them.

A crash between store and publish loses nothing: the relay finds unpublished entries on
its next pass (also after a restart); an entry is deleted only after the broker confirmed
it. Delivery is at least once; consumers' inboxes drop the duplicates that a crash between
publish and delete can cause.

Replicas of a service share one outbox; a lease in the store lets one relay at a time
publish (the others stand by and take over when the lease runs out or is released), so
replicas do not publish every event once each."""

from __future__ import annotations

import asyncio
import re
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import CloudEvent, topology
from kit import tracing
from kit.mongo import Store
from kit.signatures import Signer
from kit.uow import Transactions

COLLECTION = "outbox"
LEASES = "outbox_lease"
PARKED = "outbox_parked"
log = structlog.get_logger("kit.outbox")


class Outbox:
    def __init__(self, store: Store, signer: Signer | None = None) -> None:
        self.store = store
        # Events are signed as they are staged: the relay publishes the stored bytes.
        self.signer = signer
        self.collection = store.db[COLLECTION]
        self.leases = store.db[LEASES]
        self.parked = store.db[PARKED]
        self._wake = asyncio.Event()
        # Transactions that staged events, so that the unit of work wakes the relay after
        # its commit also for events staged by helpers given only its session.
        self._staged: weakref.WeakSet[AsyncClientSession] = weakref.WeakSet()

    async def ensure_indexes(self) -> None:
        # The relay reads pending entries in creation order (from a cursor); published
        # entries are deleted, so every entry is pending.
        await self.collection.create_index([("seq", ASCENDING)])

    async def stage(self, session: AsyncClientSession | None, *events: CloudEvent) -> None:
        """Store events inside the caller's transaction (pass its session). With tracing
        on, an event without a span context gets the current one (the request's or the
        message's), in its envelope (signed with it) and in the entry for the relay."""
        now = datetime.now(UTC)
        if tracing.enabled:
            parent, state = tracing.current_traceparent()
            if parent is not None:
                events = tuple(
                    e
                    if e.traceparent
                    else e.model_copy(update={"traceparent": parent, "tracestate": state})
                    for e in events
                )
        docs = [
            {
                "_id": e.id,
                "type": e.type,
                "exchange": topology.exchange(e.producer),
                "routing_key": e.routing_key,
                "correlationid": e.correlationid,
                "body": self.signer.seal(e).decode() if self.signer else e.model_dump_json(),
                "created": now,
                # Relay order: time to the microsecond (dates in the store keep only
                # milliseconds), then position in the transaction; a string that sorts.
                "seq": f"{now:%Y%m%d%H%M%S%f}{i:06d}",
                "due": now,
                "attempts": 0,
                **({"traceparent": e.traceparent} if e.traceparent else {}),
                **({"tracestate": e.tracestate} if e.tracestate else {}),
            }
            for i, e in enumerate(events)
        ]
        if docs:
            await self.collection.insert_many(docs, session=session)
            if session is not None:
                self._staged.add(session)

    def has_staged(self, session: AsyncClientSession) -> bool:
        """Whether events were staged in this transaction so far (kept)."""
        return session in self._staged

    def staged_in(self, session: AsyncClientSession) -> bool:
        """Whether events were staged in this transaction (forgotten once asked)."""
        staged = session in self._staged
        self._staged.discard(session)
        return staged

    def notify(self) -> None:
        """Wake the relay right after a commit instead of waiting for its next poll."""
        self._wake.set()

    async def lag(self) -> dict[str, Any]:
        pending = await self.collection.count_documents({})
        # By `seq` (the creation time, indexed), not `created`: no sort of every entry.
        oldest = await self.collection.find_one(
            {}, sort=[("seq", ASCENDING)], projection={"created": 1}
        )
        age = (datetime.now(UTC) - oldest["created"]).total_seconds() if oldest else 0.0
        lease = await self.leases.find_one({"_id": "relay"})
        relay = (
            {"holder": lease["holder"], "expires": lease["expires"].isoformat()} if lease else None
        )
        parked = await self.parked.count_documents({})
        return {"pending": pending, "oldest_age_s": round(age, 3), "parked": parked, "relay": relay}

    async def park(self, entries: list[dict[str, Any]], reason: str) -> None:
        """Move entries out of the relay's way, in one transaction: kept, not retried."""
        now = datetime.now(UTC)

        async def work(session: AsyncClientSession) -> None:
            await self.parked.insert_many(
                [{**e, "parked_at": now, "parked_reason": reason} for e in entries],
                session=session,
            )
            await self.collection.delete_many(
                {"_id": {"$in": [e["_id"] for e in entries]}}, session=session
            )

        await Transactions(self.store, self).run_session(work)

    async def forget(self, session: AsyncClientSession | None, *needles: str) -> int:
        """An erasure: drop what is held back from publishing (parked, or refused as
        unroutable and waiting to be retried) and names the person. Nobody could receive
        those events; entries on their way out are left alone, and their consumers apply
        the erasure too. Returns how many entries went."""
        if not needles:
            return 0
        names = {"$regex": "|".join(re.escape(n) for n in needles)}
        parked = await self.parked.delete_many({"body": names}, session=session)
        refused = await self.collection.delete_many(
            {"unroutable": True, "body": names}, session=session
        )
        return int(parked.deleted_count + refused.deleted_count)

    async def expire_parked(self, older_than: timedelta) -> int:
        """Parked entries are kept for operators for a while, not for ever (they may name
        people); returns how many were dropped."""
        result = await self.parked.delete_many(
            {"parked_at": {"$lt": datetime.now(UTC) - older_than}}
        )
        return int(result.deleted_count)

    async def list_parked(self) -> list[dict[str, Any]]:
        return await self.parked.find(
            {}, projection={"body": 0}, sort=[("parked_at", ASCENDING)]
        ).to_list()

    async def unpark(self, *, event_type: str | None = None, ids: list[str] | None = None) -> int:
        """Back to the outbox, due now with a fresh attempt count (after the missing
        consumer was deployed, say); returns how many."""
        query: dict[str, Any] = {}
        if event_type:
            query["type"] = event_type
        if ids:
            query["_id"] = {"$in": ids}
        entries = await self.parked.find(query).to_list()
        if not entries:
            return 0
        now = datetime.now(UTC)
        restored = []
        for e in entries:
            e = {k: v for k, v in e.items() if k not in ("parked_at", "parked_reason")}
            restored.append(
                {**e, "attempts": 0, "due": now, "last_error": None, "unroutable": False}
            )

        async def work(session: AsyncClientSession) -> None:
            await self.collection.insert_many(restored, session=session)
            await self.parked.delete_many(
                {"_id": {"$in": [e["_id"] for e in restored]}}, session=session
            )

        await Transactions(self.store, self).run_session(work)
        self.notify()
        return len(restored)
