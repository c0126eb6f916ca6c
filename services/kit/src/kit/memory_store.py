"""An in-memory stand-in for the document calls that projections make: documents found,
updated and deleted by `_id`, with the update operators `$set`, `$setOnInsert`,
`$addToSet`, `$min`, `$unset` and `$inc` (dotted paths). For the fast test tier (rule tests
that run a service's real projection code without a store) and for benchmarks that build
projections in memory before loading them; anything else it is asked raises, so a rule
that starts to need more of the store fails loudly instead of being answered wrongly."""

from __future__ import annotations

import copy
from typing import Any

Document = dict[str, Any]
OPERATORS = {"$set", "$setOnInsert", "$addToSet", "$min", "$unset", "$inc"}


def _by_id(query: dict[str, Any]) -> Any:
    if set(query) != {"_id"} or isinstance(query["_id"], dict):
        raise NotImplementedError(f"the memory store finds by _id only, not {query!r}")
    return query["_id"]


def _parent(doc: Document, path: str) -> tuple[Document, str]:
    """The document holding `path`'s last part, made on the way."""
    *parts, leaf = path.split(".")
    for part in parts:
        doc = doc.setdefault(part, {})
    return doc, leaf


def _existing_parent(doc: Document, path: str) -> tuple[Document | None, str]:
    *parts, leaf = path.split(".")
    for part in parts:
        if part not in doc:
            return None, leaf
        doc = doc[part]
    return doc, leaf


class MemoryCollection:
    def __init__(self) -> None:
        self.docs: dict[Any, Document] = {}

    async def find_one(self, query: dict[str, Any], *_: Any, **__: Any) -> Document | None:
        doc = self.docs.get(_by_id(query))
        return copy.deepcopy(doc) if doc is not None else None

    async def peek(self, key: Any) -> Document | None:
        """The document itself, to read only (as analytics' batch overlay gives it)."""
        return self.docs.get(key)

    async def delete_one(self, query: dict[str, Any], **_: Any) -> None:
        self.docs.pop(_by_id(query), None)

    async def delete_many(self, query: dict[str, Any], **_: Any) -> None:
        self.docs.pop(_by_id(query), None)

    async def update_one(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False, **_: Any
    ) -> None:
        unknown = set(update) - OPERATORS
        if unknown:
            raise NotImplementedError(f"the memory store has no {sorted(unknown)}")
        key = _by_id(query)
        doc = self.docs.get(key)
        inserted = doc is None
        if doc is None:
            if not upsert:
                return
            doc = self.docs[key] = {"_id": key}
        for path, value in update.get("$set", {}).items():
            parent, leaf = _parent(doc, path)
            parent[leaf] = value
        if inserted:
            for path, value in update.get("$setOnInsert", {}).items():
                parent, leaf = _parent(doc, path)
                parent[leaf] = value
        for path, value in update.get("$addToSet", {}).items():
            parent, leaf = _parent(doc, path)
            items = parent.setdefault(leaf, [])
            if value not in items:
                items.append(value)
        for path, value in update.get("$min", {}).items():
            parent, leaf = _parent(doc, path)
            if leaf not in parent or value < parent[leaf]:
                parent[leaf] = value
        for path in update.get("$unset", {}):
            held, leaf = _existing_parent(doc, path)
            if held is not None:
                held.pop(leaf, None)
        for path, value in update.get("$inc", {}).items():
            parent, leaf = _parent(doc, path)
            parent[leaf] = parent.get(leaf, 0) + value


class MemoryDatabase:
    def __init__(self) -> None:
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection())
