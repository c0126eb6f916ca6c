"""A dict-backed stand-in for the few collection calls the analytics projections make
(find_one / update_one by _id with $set, $setOnInsert, $addToSet, $min, $unset, $inc;
delete by _id). The bench runs the real projection code on it to build the projections
of 100,000 facts in seconds, then bulk-loads them into the real store."""

from __future__ import annotations

import copy
from typing import Any


def _walk(doc: dict[str, Any], path: str, create: bool) -> tuple[dict[str, Any] | None, str]:
    parts = path.split(".")
    for part in parts[:-1]:
        if part not in doc:
            if not create:
                return None, parts[-1]
            doc[part] = {}
        doc = doc[part]
    return doc, parts[-1]


class MemCollection:
    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}

    async def delete_one(self, query: dict[str, Any], **_: Any) -> None:
        self.docs.pop(query["_id"], None)

    async def delete_many(self, query: dict[str, Any], **_: Any) -> None:
        self.docs.pop(query["_id"], None)

    async def peek(self, key: Any) -> Any:
        """The document itself, to read only (as the batch overlay gives it)."""
        return self.docs.get(key)

    async def find_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        doc = self.docs.get(query["_id"])
        return copy.deepcopy(doc) if doc is not None else None

    async def update_one(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False, **_: Any
    ) -> None:
        key = query["_id"]
        doc = self.docs.get(key)
        inserted = doc is None
        if doc is None:
            if not upsert:
                return
            doc = self.docs[key] = {"_id": key}
        for path, value in update.get("$set", {}).items():
            parent, leaf = _walk(doc, path, True)
            parent[leaf] = value  # type: ignore[index]
        if inserted:
            for path, value in update.get("$setOnInsert", {}).items():
                parent, leaf = _walk(doc, path, True)
                parent[leaf] = value  # type: ignore[index]
        for path, value in update.get("$addToSet", {}).items():
            parent, leaf = _walk(doc, path, True)
            items = parent.setdefault(leaf, [])  # type: ignore[union-attr]
            if value not in items:
                items.append(value)
        for path, value in update.get("$min", {}).items():
            parent, leaf = _walk(doc, path, True)
            if leaf not in parent or value < parent[leaf]:  # type: ignore[operator]
                parent[leaf] = value  # type: ignore[index]
        for path in update.get("$unset", {}):
            parent, leaf = _walk(doc, path, False)
            if parent is not None:
                parent.pop(leaf, None)
        for path, value in update.get("$inc", {}).items():
            parent, leaf = _walk(doc, path, True)
            parent[leaf] = parent.get(leaf, 0) + value  # type: ignore[union-attr]


class MemDb:
    def __init__(self) -> None:
        self.collections: dict[str, MemCollection] = {}

    def __getitem__(self, name: str) -> MemCollection:
        return self.collections.setdefault(name, MemCollection())
