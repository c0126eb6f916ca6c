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
import hashlib
import heapq
import itertools
import json
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustQueue
from faststream.rabbit import RabbitQueue
from pymongo.errors import AutoReconnect

from contracts import topology
from events import clock, event, search, store
from events.api.caching import dumps
from events.settings import EventsSettings
from kit import heap
from kit.app import Service

log = structlog.get_logger("events.catalogue")

PUBLIC = frozenset(search.PUBLIC)
# Events longer than this are also kept apart: a range read starts at most this long
# before its `from` in the (start, id) order (as long as the longest shorter event of the
# list read), and adds the long ones that began earlier and are still on.
LONG_MS = int(timedelta(days=7) / timedelta(milliseconds=1))
# Generated ids are evt-<12 hex>; seeded and imported ones are slugs (evt-hki-cv).
EVENT_ID = re.compile(r"^evt-[a-z0-9-]{1,64}$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[int, str]
# Own messages remembered as already applied (Catalogue.held): enough for the outbox
# relay to fall that far behind a bulk import (~120 bytes each, ~6 MB at most).
HELD_MAX = 50_000
# Entries made since the heap was last frozen (kit.heap) past which it is frozen again: a
# full collection otherwise scans every one of them, pausing every read (a bulk import of
# 100,000 events into a running replica).
FREEZE_GROWTH = 20_000
LOAD_ATTEMPTS = 5  # reads of every public event at start-up, when the connection drops


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
    # (starts, id): one tuple shared by every ordered list the event is in.
    key: Key = field(init=False)
    # A hash of `view`: a page's ETag hashes its entries' digests, not its ~55 KB.
    digest: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.starts, self.id)
        self.digest = hashlib.blake2b(self.view, digest_size=16).digest()

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

    @property
    def long(self) -> bool:
        return self.ends - self.starts > LONG_MS


Name = tuple[str, str]  # a posting: ("topic", "python"), ("venue_id", "ven-1") ...
ALL: Name = ("", "")  # the list of every event of the municipality
# Filters answered by an ordered list of their own (the query's field, the posting's name;
# a list filter matches any of its values, so its source is the union of their lists).
POSTED_LISTS = (
    ("topics", "topic"), ("kinds", "kind"), ("audiences", "audience"),
    ("languages", "language"), ("venue_kinds", "venue_kind"),
)  # fmt: skip
POSTED_ONE = ("venue_id", "series_id", "parent_event_id")


@dataclass
class Municipality:
    """One municipality's events as ordered lists of (start, id): all of them, and those
    sharing a topic, kind, audience, language, kind of place, place, series or parent.
    Long events (over LONG_MS) are also in lists of their own, and each list knows the
    longest of its other events, so that a read from a time starts at most that long
    before it: an ordered index both ways, never a walk over a week of events."""

    postings: dict[Name, list[Key]] = field(default_factory=dict)
    long: dict[Name, list[Key]] = field(default_factory=dict)
    # The longest duration (ms) of a short event each list has held: never lowered (a
    # removal keeps it; wider is still correct, only a little slower).
    spans: dict[Name, int] = field(default_factory=dict)

    @staticmethod
    def posted(entry: Entry) -> list[Name]:
        names = [ALL, ("kind", entry.kind)]
        names += [("topic", t) for t in entry.topics]
        names += [("audience", a) for a in entry.audiences]
        names += [("language", lang) for lang in entry.languages]
        if entry.venue_kind:
            names.append(("venue_kind", entry.venue_kind))
        for name in POSTED_ONE:
            value = getattr(entry, name)
            if value:
                names.append((name, value))
        return names

    def add(self, entry: Entry) -> None:
        long, span = entry.long, entry.ends - entry.starts
        for name in self.posted(entry):
            bisect.insort(self.postings.setdefault(name, []), entry.key)
            if long:
                bisect.insort(self.long.setdefault(name, []), entry.key)
            elif span > self.spans.get(name, 0):
                self.spans[name] = span

    def remove(self, entry: Entry) -> None:
        for name in self.posted(entry):
            for lists in (self.postings, self.long):
                keys = lists.get(name)
                if keys is not None:
                    _discard(keys, entry.key)
                    if not keys:
                        del lists[name]

    @classmethod
    def build(cls, entries: list[Entry]) -> Municipality:
        """The lists of many events at once: appended, then each sorted once (a start-up
        of 100,000 events without 100,000 insertions into long lists)."""
        built = cls()
        for entry in entries:
            long, span = entry.long, entry.ends - entry.starts
            for name in cls.posted(entry):
                built.postings.setdefault(name, []).append(entry.key)
                if long:
                    built.long.setdefault(name, []).append(entry.key)
                elif span > built.spans.get(name, 0):
                    built.spans[name] = span
        for lists in (built.postings, built.long):
            for keys in lists.values():
                keys.sort()
        return built

    def sources(self, q: Query) -> list[Name]:
        """The narrowest ordered source of a query: every event, or the union of the lists
        of one filtered field (the one with the fewest events in the query's time range)."""
        choices: list[list[Name]] = [[ALL]]
        for attribute, kind in POSTED_LISTS:
            values: frozenset[str] = getattr(q, attribute)
            if values:
                choices.append([(kind, v) for v in sorted(values)])
        for attribute in POSTED_ONE:
            value = getattr(q, attribute)
            if value is not None:
                choices.append([(attribute, value)])
        if len(choices) == 1:
            return choices[0]
        return min(choices, key=lambda names: sum(len(r) for r in self.ranges(names, q)))

    def since(self, names: list[Name], q: Query) -> int | None:
        """Where the short events of these lists that may still be on at `from` begin:
        `from` less the longest of them (one bound for all the lists, so that a long
        event is either before it in every list or at or after it in every list)."""
        if q.start is None:
            return None
        return q.start - max(self.spans.get(name, 0) for name in names)

    def ranges(self, names: list[Name], q: Query) -> list[range]:
        """For each list, the positions of its events that may be in the time range."""
        since = self.since(names, q)
        found = []
        for name in names:
            keys = self.postings.get(name, [])
            lo = 0 if since is None else bisect.bisect_left(keys, (since, ""))
            hi = len(keys) if q.end is None else bisect.bisect_left(keys, (q.end, ""))
            found.append(range(lo, max(lo, hi)))
        return found

    def candidates(self, q: Query) -> Iterator[Key]:
        """The keys of the events that may match, in (start, id) order, each once: the long
        events that began before the short ones' range (still on, perhaps), then that
        range."""
        names = self.sources(q)
        since = self.since(names, q)
        early: list[Iterable[Key]] = []
        if since is not None:
            for name in names:
                keys = self.long.get(name, [])
                early.append(keys[: bisect.bisect_left(keys, (since, ""))])
        main: list[Iterable[Key]] = []
        for name, span in zip(names, self.ranges(names, q), strict=True):
            main.append(map(self.postings.get(name, []).__getitem__, span))
        return itertools.chain(_union(early), _union(main))


def _union(runs: list[Iterable[Key]]) -> Iterator[Key]:
    """Ordered runs merged in order, each key once."""
    if len(runs) <= 1:
        return iter(runs[0] if runs else ())
    # The same key in two runs comes out side by side: keep the first.
    merged = heapq.merge(*runs)
    return (key for key, _ in itertools.groupby(merged))


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
        # Ids of messages this replica staged for changes it already holds (applied after
        # their commit): their echo on the bus is not read again. Bounded: past the bound
        # the oldest are forgotten (their echo costs one read by `_id`, as any other's).
        self._held: dict[str, None] = {}
        self._frozen_at = 0  # entries held when the heap was last frozen
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
        page: list[Entry] = []
        skip = offset
        entries = self.entries
        for _, event_id in place.candidates(q):
            e = entries[event_id]
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
            if held is None and len(self.entries) >= self._frozen_at + FREEZE_GROWTH:
                heap.freeze_grown()
                self._frozen_at = len(self.entries)

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

    def held(self, *message_ids: str) -> None:
        """These messages (staged by this replica) carry changes already applied here."""
        for message_id in message_ids:
            self._held[message_id] = None
        while len(self._held) > HELD_MAX:
            del self._held[next(iter(self._held))]

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
        started = clock.now()
        for attempt in range(LOAD_ATTEMPTS):
            try:
                count = await events.count_documents(query)
                if count > self.max_events:
                    # Bounded memory: past the cap every read goes to the store (correct,
                    # slower).
                    log.error("catalogue.too_large", events=count, max_events=self.max_events)
                    self.disabled = True
                    return
                async for doc in events.find(query, batch_size=2000):
                    held = self.entries.get(doc["_id"])  # a write of this replica meanwhile
                    if held is None or doc.get("revision", 0) >= held.revision:
                        self.entries[doc["_id"]] = Entry.of(doc)
                break
            except AutoReconnect as exc:
                # The driver cancels a read in flight when the store misses a heartbeat (the
                # embedded store, busy, did while streaming 100,000 events): read it again
                # (what was read is kept; newer revisions replace it) instead of failing
                # the start-up.
                if attempt == LOAD_ATTEMPTS - 1:
                    raise
                log.warning("catalogue.load_retried", error=str(exc), held=len(self.entries))
                await asyncio.sleep(1.0)
        by_place: dict[str, list[Entry]] = {}
        for entry in self.entries.values():
            by_place.setdefault(entry.municipality, []).append(entry)
        self.municipalities = {m: Municipality.build(es) for m, es in by_place.items()}
        self.complete = True
        self._frozen_at = len(self.entries)  # frozen with the startup heap (kit.app)
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
        message_id = data.get("id")
        if isinstance(message_id, str) and message_id in self._held:
            del self._held[message_id]
            return  # this replica's own change, applied after its commit
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
