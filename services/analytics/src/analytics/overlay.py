"""A write-behind view of the analytics database for one batch of facts.

The projection code runs unchanged against it: reads come from documents loaded in bulk
up front (or one by one when not prefetched), updates are applied in memory with the
store's semantics, and `flush` writes each changed document once (a document that ends as
it was loaded is not written). So a batch gives exactly the projections that applying its
facts one by one gives, in a few bulk writes instead of a dozen operations per fact.

The ESF counters are only ever incremented: their `$inc`s are merged per document and
applied at `flush` to the documents read then, which are replaced (the store applies an
`$inc` of many fields far slower than it replaces the document).

While the projections run, one store operation of the batch (the facts' insert) may be in
flight on the session: `pending`. Any read of the overlay waits for it first, so the
session never carries two operations at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import DeleteOne, InsertOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession

from analytics.facts import to_millis
from analytics.projections import ACTIVITY_COUNTS, ESF_COUNTS, Db

# Only incremented (and given fields when created), never read by the projection code.
INCREMENT_ONLY = frozenset({ESF_COUNTS, ACTIVITY_COUNTS})

# The embedded store's `$in` slows down sharply above about a hundred values.
CHUNK = 100


def _stored(value: Any) -> Any:
    """A value as the store gives it back: milliseconds, UTC, lists."""
    if isinstance(value, datetime):
        return to_millis(value)
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    return value


def _clone(value: Any) -> Any:
    """A deep copy of a stored document: only dicts and lists are mutable in it (dates,
    strings and numbers are not), and `copy.deepcopy` spent most of a batch's Python time
    copying dates."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _walk(doc: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    """The document holding `path`'s last part, if it exists."""
    parts = path.split(".")
    for part in parts[:-1]:
        if part not in doc:
            return None, parts[-1]
        doc = doc[part]
    return doc, parts[-1]


def _place(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The document holding `path`'s last part, made on the way where missing."""
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    return doc, parts[-1]


def _update(doc: dict[str, Any], update: dict[str, Any], inserted: bool) -> None:
    """The update operators the projections use, in the store's order of application."""
    for path, value in update.get("$set", {}).items():
        parent, leaf = _place(doc, path)
        parent[leaf] = _stored(value)
    if inserted:
        for path, value in update.get("$setOnInsert", {}).items():
            parent, leaf = _place(doc, path)
            parent[leaf] = _stored(value)
    for path in update.get("$unset", {}):
        holder, leaf = _walk(doc, path)
        if holder is not None:
            holder.pop(leaf, None)
    for path, value in update.get("$inc", {}).items():
        parent, leaf = _place(doc, path)
        parent[leaf] = parent.get(leaf, 0) + value
    for path, value in update.get("$addToSet", {}).items():
        parent, leaf = _place(doc, path)
        items = parent.setdefault(leaf, [])
        value = _stored(value)
        if value not in items:
            items.append(value)
    for path, value in update.get("$min", {}).items():
        parent, leaf = _place(doc, path)
        value = _stored(value)
        if leaf not in parent or value < parent[leaf]:
            parent[leaf] = value


class OverlayCollection:
    def __init__(self, overlay: Overlay, name: str) -> None:
        self.overlay = overlay
        self.name = name
        self.real = overlay.db[name]
        self.docs: dict[Any, dict[str, Any] | None] = {}  # None: absent
        self.dirty: set[Any] = set()
        self.stored: set[Any] = set()  # keys the store has (as loaded)
        self.original: dict[Any, dict[str, Any]] = {}  # stored documents before a change
        self.incs: dict[Any, dict[str, int]] = {}  # increment-only: the merged $inc
        self.on_insert: dict[Any, dict[str, Any]] = {}  # increment-only: its $setOnInsert

    @property
    def session(self) -> AsyncClientSession | None:
        return self.overlay.session

    async def load_ids(self, keys: Iterable[Any]) -> None:
        missing = sorted({k for k in keys if k not in self.docs}, key=str)
        if missing:
            await self.overlay.settle()
        for i in range(0, len(missing), CHUNK):
            chunk = missing[i : i + CHUNK]
            found = {
                d["_id"]: d
                async for d in self.real.find({"_id": {"$in": chunk}}, session=self.session)
            }
            for key in chunk:
                self.docs[key] = found.get(key)
            self.stored.update(found)

    async def _get(self, key: Any) -> dict[str, Any] | None:
        if key not in self.docs:
            await self.overlay.settle()
            self.docs[key] = await self.real.find_one({"_id": key}, session=self.session)
            if self.docs[key] is not None:
                self.stored.add(key)
        return self.docs[key]

    async def peek(self, key: Any) -> dict[str, Any] | None:
        """The document itself, not a copy: for a caller that only reads it, and not
        after its next update (which changes it in place)."""
        return await self._get(key)

    async def find_one(self, query: dict[str, Any], *_: Any, **__: Any) -> dict[str, Any] | None:
        assert set(query) == {"_id"} and self.name not in INCREMENT_ONLY, (self.name, query)
        doc = await self._get(query["_id"])
        return _clone(doc) if doc is not None else None

    async def update_one(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False, **_: Any
    ) -> None:
        assert set(query) == {"_id"}, (self.name, query)
        key = query["_id"]
        if self.name in INCREMENT_ONLY:
            assert set(update) <= {"$inc", "$setOnInsert"} and upsert, (self.name, update)
            if "$setOnInsert" in update:
                self.on_insert.setdefault(key, update["$setOnInsert"])
            merged = self.incs.setdefault(key, {})
            for path, value in update["$inc"].items():
                merged[path] = merged.get(path, 0) + value
            return
        doc = await self._get(key)
        inserted = doc is None
        if doc is None:
            if not upsert:
                return
            doc = self.docs[key] = {"_id": key}
        elif key in self.stored and key not in self.original:
            self.original[key] = _clone(doc)
        _update(doc, update, inserted)
        self.dirty.add(key)

    async def delete_one(self, query: dict[str, Any], **_: Any) -> None:
        assert set(query) == {"_id"} and self.name not in INCREMENT_ONLY, (self.name, query)
        key = query["_id"]
        if await self._get(key) is not None:
            self.docs[key] = None
            self.dirty.add(key)

    async def apply_increments(self) -> None:
        """The merged `$inc`s onto the stored documents (read now, in one go)."""
        await self.load_ids(self.incs)
        for key, inc in self.incs.items():
            doc = self.docs[key]
            if doc is None:
                doc = self.docs[key] = {"_id": key, **_stored(self.on_insert.get(key, {}))}
            elif key not in self.original:
                self.original[key] = _clone(doc)
            # Fields that sum to zero stay: one by one, an `$inc` created them with 0.
            _update(doc, {"$inc": inc}, False)
            self.dirty.add(key)
        self.incs, self.on_insert = {}, {}

    def operations(self) -> list[Any]:
        """Grouped by kind: an ordered bulk write is one round trip per run of one kind."""
        inserts: list[Any] = []
        replaces: list[Any] = []
        deletes: list[Any] = []
        for key in self.dirty:
            doc = self.docs[key]
            if key not in self.stored:
                # New: an insert costs the embedded store a fraction of an upsert.
                if doc is not None:
                    inserts.append(InsertOne(doc))
            elif doc is None:
                deletes.append(DeleteOne({"_id": key}))
            elif doc != self.original.get(key):
                # Rewriting a document costs the store as much as any change: only when
                # it really changed (a repeated event often leaves it as it was).
                replaces.append(ReplaceOne({"_id": key}, doc, upsert=True))
        return [*deletes, *inserts, *replaces]


class Overlay:
    """The database as the projection code sees it during one batch."""

    def __init__(self, db: Db, session: AsyncClientSession | None) -> None:
        self.db = db
        self.session = session
        self.collections: dict[str, OverlayCollection] = {}
        self.pending: asyncio.Task[Any] | None = None

    async def settle(self) -> None:
        """Wait for the operation in flight on the session, if any (and raise its error)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    def __getitem__(self, name: str) -> OverlayCollection:
        if name not in self.collections:
            self.collections[name] = OverlayCollection(self, name)
        return self.collections[name]

    async def flush(self) -> None:
        await self.settle()
        for collection in list(self.collections.values()):
            await collection.apply_increments()
        for name, collection in self.collections.items():
            ops = collection.operations()
            if ops:
                await self.db[name].bulk_write(ops, ordered=True, session=self.session)
        self.collections = {}
