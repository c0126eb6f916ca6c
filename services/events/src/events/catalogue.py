"""The public catalogue held in memory by each replica: every published, cancelled and
completed event, ordered by (start, id) per municipality, with its API view already
written as JSON. Listing, search, one event with its sub-events and the feeds are answered
from here without asking the store to sort (the embedded store fetches and sorts every
match of a sorted query; see docs/architecture.md for the design and its alternatives).

Kept current by
- this replica's own writes: refreshed from the store right after they commit, before the
  write answers (the writer reads its own write at once);
- the service's events on the bus (its own and other replicas'): a private queue per
  replica marks the event named in each message; marked events are read again by `_id`
  every `catalogue_refresh_ms` (the lag other replicas see);
- a read asking for at least a revision it was given by a write (`min_revision`): an older
  entry is read again from the store first.

Drafts are not here (a listing that asks for drafts goes to the store: few, staff only)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustQueue
from faststream.rabbit import RabbitQueue

from contracts import topology
from events import clock, event, search, store
from events.api.caching import dumps
from events.settings import EventsSettings
from kit.app import Service

log = structlog.get_logger("events.catalogue")

PUBLIC = frozenset(search.PUBLIC)
# Events longer than this are also kept apart: a range read starts LONG before its `from`
# in the (start, id) order and adds the long ones that began earlier and are still on.
LONG_MS = int(timedelta(days=7) / timedelta(milliseconds=1))
# Generated ids are evt-<12 hex>; seeded and imported ones are slugs (evt-hki-cv).
EVENT_ID = re.compile(r"^evt-[a-z0-9-]{1,64}$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[int, str]


def millis(value: datetime) -> int:
    """A time as the store keeps it: whole milliseconds (the driver floors microseconds)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(milliseconds=1)


def _words(values: list[str] | None) -> tuple[str, ...]:
    return tuple(sys.intern(v) for v in values or ())


@dataclass(slots=True)
class Entry:
    """What a read needs of one event: the fields filtered on and its views as JSON."""

    id: str
    municipality: str
    status: str
    starts: int  # ms since the epoch, UTC
    ends: int
    kind: str
    audiences: tuple[str, ...]
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    venue_kind: str | None
    venue_id: str | None
    series_id: str | None
    parent_event_id: str | None
    text: str
    revision: int
    view: bytes  # event.out(doc), as listed and as shown to anyone but its managers
    brief: bytes  # {"id", "title"}: as a sub-event of its parent

    @property
    def key(self) -> Key:
        return (self.starts, self.id)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Entry:
        return cls(
            id=doc["_id"],
            municipality=sys.intern(doc["municipality"]),
            status=sys.intern(doc["status"]),
            starts=millis(doc["starts_at"]),
            ends=millis(doc["ends_at"]),
            kind=sys.intern(doc["kind"]),
            audiences=_words(doc.get("audiences")),
            topics=_words([t["skill"] for t in doc.get("topics") or []]),
            languages=_words(doc.get("languages")),
            venue_kind=doc.get("venue_kind"),
            venue_id=doc.get("venue_id"),
            series_id=doc.get("series_id"),
            parent_event_id=doc.get("parent_event_id"),
            text=doc.get("search_text") or event.search_text(doc),
            revision=doc.get("revision", 0),
            view=dumps(event.out(doc)),
            brief=dumps({"id": doc["_id"], "title": doc["title"]}),
        )


@dataclass
class Municipality:
    """One municipality's events: all of them in (start, id) order, the long ones apart,
    and the order of those sharing a topic, venue, series or parent."""

    keys: list[Key] = field(default_factory=list)
    long: dict[str, Entry] = field(default_factory=dict)
    postings: dict[tuple[str, str], list[Key]] = field(default_factory=dict)

    @staticmethod
    def posted(entry: Entry) -> list[tuple[str, str]]:
        names = [("topic", t) for t in entry.topics]
        for name in ("venue_id", "series_id", "parent_event_id"):
            value = getattr(entry, name)
            if value:
                names.append((name, value))
        return names

    def add(self, entry: Entry) -> None:
        bisect.insort(self.keys, entry.key)
        if entry.ends - entry.starts > LONG_MS:
            self.long[entry.id] = entry
        for name in self.posted(entry):
            bisect.insort(self.postings.setdefault(name, []), entry.key)

    def remove(self, entry: Entry) -> None:
        _discard(self.keys, entry.key)
        self.long.pop(entry.id, None)
        for name in self.posted(entry):
            keys = self.postings.get(name)
            if keys is not None:
                _discard(keys, entry.key)
                if not keys:
                    del self.postings[name]


def _discard(keys: list[Key], key: Key) -> None:
    at = bisect.bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        del keys[at]


@dataclass
class Query:
    """A listing's filters as the catalogue compares them (times in ms, words lowered)."""

    statuses: frozenset[str]
    start: int | None
    end: int | None
    kinds: frozenset[str]
    audiences: frozenset[str]
    topics: frozenset[str]
    languages: frozenset[str]
    venue_kinds: frozenset[str]
    venue_id: str | None
    series_id: str | None
    parent_event_id: str | None
    words: tuple[str, ...]

    @classmethod
    def of(cls, f: search.Filters, tz: str) -> Query:
        return cls(
            statuses=frozenset(f.statuses),
            start=millis(clock.to_utc(f.start, tz)) if f.start is not None else None,
            end=millis(clock.to_utc(f.end, tz)) if f.end is not None else None,
            kinds=frozenset(f.kinds),
            audiences=frozenset(f.audiences),
            topics=frozenset(t.lower() for t in f.topics),
            languages=frozenset(f.languages),
            venue_kinds=frozenset(f.venue_kinds),
            venue_id=f.venue_id or None,
            series_id=f.series_id or None,
            parent_event_id=f.parent_event_id or None,
            words=tuple(f.text.lower().split()[:8]) if f.text else (),
        )

    def matches(self, e: Entry) -> bool:
        """The meaning of search.query, field by field (a list filter: any in common)."""
        return (
            e.status in self.statuses
            and (self.start is None or e.ends >= self.start)
            and (self.end is None or e.starts < self.end)
            and (not self.kinds or e.kind in self.kinds)
            and (not self.audiences or not self.audiences.isdisjoint(e.audiences))
            and (not self.topics or not self.topics.isdisjoint(e.topics))
            and (not self.languages or not self.languages.isdisjoint(e.languages))
            and (not self.venue_kinds or e.venue_kind in self.venue_kinds)
            and (self.venue_id is None or e.venue_id == self.venue_id)
            and (self.series_id is None or e.series_id == self.series_id)
            and (self.parent_event_id is None or e.parent_event_id == self.parent_event_id)
            and all(w in e.text for w in self.words)
        )


class Catalogue:
    def __init__(self, svc: Service[EventsSettings]) -> None:
        self.svc = svc
        self.refresh_s = svc.settings.catalogue_refresh_ms / 1000
        self.max_events = svc.settings.catalogue_max_events
        self.entries: dict[str, Entry] = {}
        self.municipalities: dict[str, Municipality] = {}
        # Complete: every public event is here (else reads go to the store, see load()).
        self.complete = False
        self.disabled = False  # more public events than catalogue_max_events
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None
        self._queue: AbstractRobustQueue | None = None
        self.queue_name = topology.queue("events", f"catalogue.{uuid.uuid4().hex[:12]}")

    # -- reads ---------------------------------------------------------------------------

    def answers(self, f: search.Filters) -> bool:
        """Whether a listing is answered here: public statuses only, not an author's own."""
        return self.complete and PUBLIC.issuperset(f.statuses) and not f.created_by

    def find(
        self, f: search.Filters, *, limit: int, offset: int = 0
    ) -> tuple[list[Entry], int | None]:
        """One page in (start, id) order and the offset of the next one (None at the end):
        what search.find answers from the store."""
        place = self.municipalities.get(f.municipality)
        if place is None:
            return [], None
        q = Query.of(f, self.svc.settings.timezone_of(f.municipality))
        keys = place.keys
        # The narrowest ordered source: every event, or those of one series, parent, venue
        # or topic (several topics: the union of theirs, merged in order).
        for name, value in (("parent_event_id", q.parent_event_id), ("series_id", q.series_id),
                            ("venue_id", q.venue_id)):  # fmt: skip
            if value is not None:
                found = place.postings.get((name, value), [])
                if len(found) < len(keys):
                    keys = found
        if q.topics:
            lists = [place.postings.get(("topic", t), []) for t in q.topics]
            if sum(map(len, lists)) < len(keys):
                keys = lists[0] if len(lists) == 1 else sorted({k for ks in lists for k in ks})
        lo, early = 0, []
        if q.start is not None:
            lo = bisect.bisect_left(keys, (q.start - LONG_MS, ""))
        if lo and q.start is not None:
            # Long events that began before `lo` and may still be on come first (in order).
            since = q.start - LONG_MS
            early = sorted(
                (e for e in place.long.values() if e.starts < since), key=lambda e: e.key
            )
        hi = len(keys) if q.end is None else bisect.bisect_left(keys, (q.end, ""))
        page: list[Entry] = []
        skip = offset
        entries = self.entries
        for e in _chain(early, keys, lo, hi, entries):
            if not q.matches(e):
                continue
            if skip:
                skip -= 1
                continue
            page.append(e)
            if len(page) > limit:
                return page[:limit], offset + limit
        return page, None

    def get(self, event_id: str) -> Entry | None:
        return self.entries.get(event_id) if self.complete else None

    def sub_events(self, entry: Entry) -> list[Entry]:
        f = search.Filters(
            municipality=entry.municipality, statuses=search.PUBLIC, parent_event_id=entry.id
        )
        return self.find(f, limit=100)[0]

    # -- changes -------------------------------------------------------------------------

    def apply(self, doc: dict[str, Any]) -> None:
        """Hold the event as the store has it (an older revision than held is ignored)."""
        if self.disabled:
            return
        held = self.entries.get(doc["_id"])
        if held is not None and doc.get("revision", 0) < held.revision:
            return
        if held is not None:
            self._remove(held)
        if doc.get("status") in PUBLIC:
            entry = Entry.of(doc)
            self.entries[entry.id] = entry
            self.municipalities.setdefault(entry.municipality, Municipality()).add(entry)

    def _remove(self, entry: Entry) -> None:
        del self.entries[entry.id]
        self.municipalities[entry.municipality].remove(entry)

    async def refresh(self, ids: list[str]) -> None:
        """Read these events again from the store (by `_id`) and hold what it has."""
        ids = list(dict.fromkeys(ids))
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            docs = await self.svc.store.db[store.EVENTS].find({"_id": {"$in": chunk}}).to_list(None)
            for doc in docs:
                self.apply(doc)
            for gone in set(chunk) - {d["_id"] for d in docs}:
                if gone in self.entries:
                    self._remove(self.entries[gone])

    async def at_least(self, event_id: str, revision: int | None) -> Entry | None:
        """The event at `revision` or newer: read again when this replica holds an older one."""
        held = self.get(event_id)
        if revision is not None and (held is None or held.revision < revision):
            await self.refresh([event_id])
            held = self.get(event_id)
        return held

    async def documents(self, entries: list[Entry]) -> list[dict[str, Any]]:
        """The stored documents of these events, in their order (read by `_id`)."""
        ids = [e.id for e in entries]
        found = await self.svc.store.db[store.EVENTS].find({"_id": {"$in": ids}}).to_list(None)
        by_id = {d["_id"]: d for d in found}
        return [by_id[i] for i in ids if i in by_id]

    def mark(self, event_id: str) -> None:
        self._dirty.add(event_id)
        self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe first (changes made during the load are queued, then read again),
        then load every public event; the service is not ready before this is done."""
        bus = self.svc.bus
        connection = await bus.broker.connect()
        # After a reconnect the private queue is new: what was published meanwhile is lost
        # to it, so every public event is read again (in the background, serving as held).
        connection.reconnect_callbacks.add(self._reconnected)
        exchange = await bus.declare_exchange(topology.exchange("events"))
        self._queue = await bus.broker.declare_queue(
            RabbitQueue(
                self.queue_name,
                exclusive=True,
                auto_delete=True,
                # A stuck replica does not pile up messages on the broker: the oldest go
                # (the events they name are read again anyway when they change next).
                arguments={"x-max-length": 100_000, "x-overflow": "drop-head"},
            )
        )
        await self._queue.bind(exchange, routing_key="events.#")
        await self._queue.consume(self._on_message, no_ack=True)
        await self.load()
        self._task = asyncio.create_task(self._refresher())

    async def load(self) -> None:
        events = self.svc.store.db[store.EVENTS]
        query = {"status": {"$in": list(PUBLIC)}}
        count = await events.count_documents(query)
        if count > self.max_events:
            # Bounded memory: past the cap every read goes to the store (correct, slower).
            log.error("catalogue.too_large", events=count, max_events=self.max_events)
            self.disabled = True
            return
        started = clock.now()
        async for doc in events.find(query, batch_size=2000):
            self.apply(doc)
        self.complete = True
        log.info(
            "catalogue.loaded",
            events=len(self.entries),
            seconds=round((clock.now() - started).total_seconds(), 2),
        )

    def _reconnected(self, *_: Any) -> None:
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self.resync())

    async def resync(self) -> None:
        """Read every public event again (changes whose messages this replica missed)."""
        if not self.complete:
            return
        started = clock.now()
        events = self.svc.store.db[store.EVENTS]
        async for doc in events.find({"status": {"$in": list(PUBLIC)}}, batch_size=2000):
            self.apply(doc)
        log.info("catalogue.resynced", seconds=round((clock.now() - started).total_seconds(), 2))

    async def stop(self) -> None:
        # The private queue goes with the connection (exclusive): the kit closes it before
        # shutdown hooks run, and a cancel on a closed robust channel would wait for ever.
        for task in (self._task, self._resync):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """Any message of the events service that names an event marks it (its content
        is not trusted beyond that: the event is read from the store)."""
        try:
            data = json.loads(message.body)
            named = data.get("data", {}).get("event_id") if isinstance(data, dict) else None
        except (ValueError, AttributeError):
            return
        if isinstance(named, str) and EVENT_ID.match(named):
            self.mark(named)

    async def _refresher(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.refresh_s)  # gathers what arrives meanwhile
            self._wake.clear()
            ids, self._dirty = list(self._dirty), set()
            try:
                await self.refresh(ids)
            except Exception as exc:  # the store away for a moment: try these again
                log.warning("catalogue.refresh_failed", error=str(exc), events=len(ids))
                self._dirty.update(ids)
                self._wake.set()
                await asyncio.sleep(1.0)


def _chain(early: list[Entry], keys: list[Key], lo: int, hi: int, entries: dict[str, Entry]) -> Any:
    yield from early
    for at in range(lo, hi):
        yield entries[keys[at][1]]
