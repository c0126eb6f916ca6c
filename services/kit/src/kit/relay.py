"""The relay: publishes the outbox's pending entries with confirms, then deletes them
(see kit.outbox); one replica's at a time (kit.lease)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo import ASCENDING, UpdateOne

from kit import tracing
from kit.bus import Bus, Unroutable
from kit.deletions import Deletions
from kit.lease import Lease
from kit.metrics import OUTBOX_LAG, OUTBOX_PARKED, OUTBOX_PENDING
from kit.outbox import Outbox

READ_FACTOR = 8  # a relay pass reads this many times its batch (see Relay)
# A refused type's next probe comes after its backoff, but at most this long: a probe is
# one publish, and entries unparked by an operator (the consumer deployed) go out soon.
HOLD_MAX_S = 5.0
# Riders parked with a refused probe per pass: parking is a transaction of inserts and
# deletes, and 8,000 at once took the embedded store 243 s (load ~20), starving reads.
PARK_RIDERS = 200
log = structlog.get_logger("kit.outbox")
Entries = list[dict[str, Any]]


class ReadAhead:
    """The batch after a full one, read while that one is published, and the cursor it
    was read from (used only if publishing moved the cursor exactly there)."""

    def __init__(self) -> None:
        self._task: asyncio.Task[Entries] | None = None
        self._cursor: str | None = None

    def begin(self, cursor: str, read: Coroutine[Any, Any, Entries]) -> None:
        self.drop()
        self._cursor = cursor
        self._task = asyncio.create_task(read)

    def take(self, cursor: str | None) -> asyncio.Task[Entries] | None:
        """The read begun from `cursor`, if any (any other is dropped)."""
        task, self._task = self._task, None
        if task is not None and cursor is not None and cursor == self._cursor:
            return task
        if task is not None:
            task.cancel()
        return None

    @property
    def reading(self) -> bool:
        return self._task is not None

    def drop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class Relay:
    """Publishes pending outbox entries in order of creation, a batch at a time, with the
    confirms pipelined; failed entries are retried with backoff.

    Deleting a published entry is one store write per entry, as slow as a publish on the
    embedded store, so deletions trail behind in a background task: while they do, the
    next batch is read from a cursor (the `seq` of the last published entry) and
    ids already published are skipped. When a cursor pass finds nothing new, the relay
    waits for the deletions and scans from the start again, which also picks up an entry
    whose transaction committed late with an earlier creation time, and entries that were
    postponed. Nothing is skipped for good; a crash only means publishing again.

    A type the broker refused as unroutable is held: its entries wait untouched until one
    of them, the probe, is delivered (`_publish_all`)."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        bus: Bus,
        service: str,
        poll_s: float,
        batch: int,
        max_trailing: int = 10_000,
        lease_s: float = 10.0,
        park_after: int = 10,
        parked_retention: timedelta = timedelta(days=30),
    ) -> None:
        self.park_after = park_after
        self.parked_retention = parked_retention
        # How long an entry is retried before it is parked: the sum of its backoff delays.
        self._park_window = sum(_backoff(a) for a in range(1, park_after))
        self._unroutable_since: dict[str, float] = {}  # event type -> loop time
        # A type the broker refused is held: its entries wait, untouched, until the loop
        # time here, then one of them (the probe) is tried first (see `_publish_all`).
        self._held: dict[str, float] = {}
        self._refusals: dict[str, int] = {}  # event type -> refusals in a row
        self.outbox = outbox
        self.lease = Lease(outbox, ttl_s=lease_s)
        self.bus = bus
        self.service = service
        self.poll_s = poll_s
        self.batch = batch
        # Entries read per pass, 8x the batch: a read costs the embedded store time for
        # every pending entry from the cursor on, however few it returns, so a backlog is
        # read in few, large passes (growing from the batch size up to this cost a third
        # of a backlog's drain time in reads).
        self._size = batch * READ_FACTOR
        self.max_trailing = max_trailing
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._gauged_at = 0.0
        self._gauger: asyncio.Task[None] | None = None
        self.deletions = Deletions(outbox)
        self._cursor: str | None = None
        self.ahead = ReadAhead()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        self._stopping = True
        self.outbox.notify()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.ahead.drop()
        if self._gauger is not None:
            self._gauger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._gauger
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 30)
        await self.lease.release()  # a standby replica takes over at once

    async def flush(self) -> None:
        """Wait until every published entry is also deleted."""
        await self.deletions.flush()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                published = await self.publish_pending()
            except Exception as exc:  # database or broker away: keep trying
                log.warning("outbox.relay_failed", error=str(exc))
                self._cursor = None
                published = 0
            if published >= self.batch:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox._wake.wait(), self._idle_wait())
            self.outbox._wake.clear()

    def _idle_wait(self) -> float:
        """Seconds to wait for a commit's wake before the next pass: `poll_s`, or, while
        a refused type is held, until its next probe (at most `HOLD_MAX_S`): a pass reads
        every held entry again, and 12,000 of them read twice a second kept the store and
        this process busy while nothing could be published."""
        if not self._held:
            return self.poll_s
        loop_now = asyncio.get_running_loop().time()
        return max(self.poll_s, min(min(self._held.values()) - loop_now, HOLD_MAX_S))

    async def publish_pending(self) -> int:
        """One pass; returns how many entries were published (none unless this relay
        holds the lease)."""
        if not await self.lease.acquire():
            self._cursor = None  # the holder may have published past it meanwhile
            self.ahead.drop()
            await self.flush()
            self._gauge()
            return 0
        entries = await self._batch()
        if not entries and self._cursor is not None:
            # Nothing new after the cursor: once deletions caught up, scan from the start.
            self._cursor = None
            await self.flush()
            entries = await self._next_batch(None)
        if not entries:
            self._gauge()
            return 0
        full = len(entries) >= self._size
        if full:
            # More are probably waiting: read them while these are published (the read
            # and the publishing wait on different servers).
            last = max(e["seq"] for e in entries)
            self.ahead.begin(last, self._next_batch(last, {e["_id"] for e in entries}))
        outcomes = await self._publish_all(entries)
        done = [e for e, r in outcomes if r is None]
        failed = [(e, r) for e, r in outcomes if isinstance(r, BaseException)]
        if done:
            for type_ in {e["type"] for e in done}:
                self._unroutable_since.pop(type_, None)
                self._held.pop(type_, None)
                self._refusals.pop(type_, None)
            self._cursor = max(e["seq"] for e in done)
            self.deletions.add([e["_id"] for e in done])
            if not full or self.deletions.waiting() >= self.max_trailing // 2:
                # Deleting competes with reading and publishing for the store: in a burst
                # (full batches) it waits until the backlog is drained or grows large.
                self.deletions.start()
        if failed:
            await self._postpone(failed)
        if len(self.deletions.published) > self.max_trailing:
            await self.flush()  # back-pressure: the deletions must keep up in the end
        self._gauge()
        return len(done)

    async def _publish_all(self, entries: Entries) -> list[tuple[dict[str, Any], Any]]:
        """Publish `entries`: each entry with what its publish raised (None: delivered).

        Entries of a held type (refused as unroutable: nothing is bound for its routing
        key, which is the same for every entry of the type) go out only after one of them,
        the probe, is delivered. The others ride on its outcome: delivered, they are
        published with the rest; refused, they wait untouched for the next probe (marked
        unroutable, for an erasure), or, once the type is hopeless, are parked with it.
        So a type nobody binds costs a publish every few seconds (`HOLD_MAX_S`), not one
        per entry and attempt: after a burst of 12,000 bookings, each `booking.requested`
        (no consumer yet) was refused up to 10 times, each time a store write and a
        warning, for some 15 minutes while the bookings process served reads."""
        riders: dict[str, Entries] = {}
        rest: Entries = []
        for entry in entries:
            if entry["type"] in self._held:  # its probe is due (`_next_batch`)
                riders.setdefault(entry["type"], []).append(entry)
            else:
                rest.append(entry)
        outcomes: list[tuple[dict[str, Any], Any]] = []
        if riders:
            probes = [group.pop(0) for group in riders.values()]
            results = await asyncio.gather(
                *(self._publish(p) for p in probes), return_exceptions=True
            )
            unmarked: list[str] = []
            for probe, result in zip(probes, results, strict=True):
                outcomes.append((probe, result))
                group = riders[probe["type"]]
                if result is None:
                    rest += group
                elif isinstance(result, Unroutable) and self._hopeless(probe["type"]):
                    # parked with it, a bounded number a pass (the rest at the next probe)
                    outcomes += [(e, result) for e in group[:PARK_RIDERS]]
                else:
                    unmarked += [e["_id"] for e in group if not e.get("unroutable")]
            if unmarked:
                await self.outbox.collection.update_many(
                    {"_id": {"$in": unmarked}}, {"$set": {"unroutable": True}}
                )
        results = await asyncio.gather(*(self._publish(e) for e in rest), return_exceptions=True)
        return outcomes + list(zip(rest, results, strict=True))

    def _hopeless(self, type_: str) -> bool:
        """Refused for as long as an entry's whole backoff: not worth retrying."""
        since = self._unroutable_since.get(type_)
        loop_now = asyncio.get_running_loop().time()
        return since is not None and loop_now - since >= self._park_window

    async def _batch(self) -> list[dict[str, Any]]:
        """The next batch: the one read ahead if the cursor is where it was read from
        (every entry of the previous batch published), else a fresh read."""
        ahead = self.ahead.take(self._cursor)
        if ahead is not None:
            with contextlib.suppress(Exception):  # a failed read: read again
                return await ahead
        return await self._next_batch(self._cursor)

    async def _next_batch(
        self, cursor: str | None, publishing: set[str] | None = None
    ) -> list[dict[str, Any]]:
        """Entries due, from `cursor` on (all when None); `publishing`: ids being
        published right now (the batch this one is read ahead of).

        The query names only indexed fields: with `due` in it the embedded store read
        every pending entry whatever the cursor (seven times slower on a backlog of
        8,000), so entries not yet due (postponed after a failure) are passed over here,
        reading on past them while they fill a whole read."""
        now = datetime.now(UTC)
        # Taken before reading: an entry deleted (and so dropped from `published`) while
        # the read runs may still be in its result, and must not be published again.
        skip = set(self.deletions.published) | (publishing or set())
        # Only the entry at the cursor itself can be published already (`seq` is distinct
        # within a transaction); should more collide across transactions, the pass looks
        # empty and the relay falls back to a full scan.
        overlap = len(skip) if cursor is None else min(len(skip), 16)
        limit = self._size + overlap
        batch: list[dict[str, Any]] = []
        while True:
            query: dict[str, Any] = {}
            if cursor is not None:
                query["seq"] = {"$gte": cursor}
            entries = await self.outbox.collection.find(
                query, sort=[("seq", ASCENDING)], limit=limit
            ).to_list()
            loop_now = asyncio.get_running_loop().time()
            held = [e for e in entries if self._held.get(e["type"], loop_now) > loop_now]
            if held:  # passed over until their type's probe; an erasure finds them
                unmarked = [e["_id"] for e in held if not e.get("unroutable")]
                if unmarked:
                    await self.outbox.collection.update_many(
                        {"_id": {"$in": unmarked}}, {"$set": {"unroutable": True}}
                    )
                skip.update(e["_id"] for e in held)
            batch += [e for e in entries if e["_id"] not in skip and e["due"] <= now]
            if len(batch) >= self._size or len(entries) < limit:
                return batch[: self._size]
            # A full read, thinned by postponed entries: read on after it.
            cursor = entries[-1]["seq"]
            skip.update(e["_id"] for e in entries)

    async def _publish(self, entry: dict[str, Any]) -> None:
        if tracing.enabled:
            await self._publish_traced(entry)
            return
        await self.bus.publish(
            entry["body"].encode(),
            exchange=entry["exchange"],
            routing_key=entry["routing_key"],
            message_id=entry["_id"],
            correlation_id=entry.get("correlationid"),
            message_type=entry["type"],
        )

    async def _publish_traced(self, entry: dict[str, Any]) -> None:
        """Publish in a span that continues the event's trace (its staged span context),
        with the time it waited in the outbox; the span and the publish time travel as
        AMQP headers (the consumer's link and queue wait)."""
        created = entry.get("created")
        waited = None
        if isinstance(created, datetime):
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            waited = (datetime.now(UTC) - created).total_seconds()
        span = tracing.publish_span(
            exchange=entry["exchange"],
            routing_key=entry["routing_key"],
            message_id=entry["_id"],
            traceparent=entry.get("traceparent"),
            tracestate=entry.get("tracestate"),
            outbox_wait_s=waited,
        )
        if entry.get("attempts"):
            span.set_attribute("kohtaamo.outbox.attempts", entry["attempts"])
        parent, _ = tracing.format_context(span.get_span_context())
        headers: dict[str, Any] = {tracing.HEADER_PUBLISHED_MS: tracing.now_ms()}
        if parent:
            headers[tracing.HEADER_TRACEPARENT] = parent
        try:
            with tracing.activated(span):
                await self.bus.publish(
                    entry["body"].encode(),
                    exchange=entry["exchange"],
                    routing_key=entry["routing_key"],
                    message_id=entry["_id"],
                    correlation_id=entry.get("correlationid"),
                    message_type=entry["type"],
                    headers=headers,
                )
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(tracing.error_status(exc))
            raise
        finally:
            span.end()

    async def _postpone(self, failed: list[tuple[dict[str, Any], BaseException]]) -> None:
        updates = []
        parking: list[dict[str, Any]] = []
        loop_now = asyncio.get_running_loop().time()
        refused: set[str] = set()  # types refused in this pass: held, once each
        for entry, error in failed:
            attempts = entry.get("attempts", 0) + 1
            unroutable = isinstance(error, Unroutable)
            if unroutable:
                since = self._unroutable_since.setdefault(entry["type"], loop_now)
                refused.add(entry["type"])
                # Nobody subscribes (yet): keep it, but stop retrying it. Once a type has
                # been unroutable for as long as an entry's whole backoff, its new entries
                # are parked at their first refusal instead of being retried in vain.
                hopeless = loop_now - since >= self._park_window
                if self.park_after and (attempts >= self.park_after or hopeless):
                    parking.append({**entry, "attempts": attempts, "last_error": str(error)})
                    continue
            delay = _backoff(attempts)
            log.warning(
                "outbox.publish_failed",
                event_id=entry["_id"],
                event_type=entry["type"],
                unroutable=unroutable,
                attempts=attempts,
                retry_in_s=delay,
                error=str(error),
            )
            due = datetime.now(UTC) + timedelta(seconds=delay)
            fields = {"attempts": attempts, "last_error": str(error), "due": due}
            updates.append(
                UpdateOne({"_id": entry["_id"]}, {"$set": {**fields, "unroutable": unroutable}})
            )
        for type_ in refused:
            self._refusals[type_] = self._refusals.get(type_, 0) + 1
            self._held[type_] = loop_now + min(_backoff(self._refusals[type_]), HOLD_MAX_S)
        if updates:
            await self.outbox.collection.bulk_write(updates, ordered=False)
        if parking:
            await self.outbox.park(parking, reason="unroutable")
            await self.outbox.expire_parked(self.parked_retention)
            for entry in parking:
                log.warning(
                    "outbox.parked",
                    event_id=entry["_id"],
                    event_type=entry["type"],
                    attempts=entry["attempts"],
                    error=entry["last_error"],
                )

    def _gauge(self) -> None:
        """Refresh the lag gauges at most once a second, in a task of their own: counting
        the pending entries reads all of them, which held up publishing (a fifth to a
        quarter of a busy relay's time on the embedded store)."""
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._gauged_at < 1.0 or (
            self._gauger is not None and not self._gauger.done()
        ):
            return
        self._gauged_at = loop_now
        self._gauger = asyncio.create_task(self._measure(), name=f"outbox-gauge-{self.service}")

    async def _measure(self) -> None:
        try:
            lag = await self.outbox.lag()
        except Exception as exc:  # the store away: the relay logs that already
            log.debug("outbox.gauge_failed", error=str(exc))
            return
        OUTBOX_PENDING.labels(self.service).set(lag["pending"])
        OUTBOX_LAG.labels(self.service).set(lag["oldest_age_s"])
        OUTBOX_PARKED.labels(self.service).set(lag["parked"])


def _backoff(attempts: int) -> float:
    """Seconds before the next try of an entry that failed `attempts` times."""
    return min(300.0, 0.5 * 2.0 ** min(attempts, 10))
