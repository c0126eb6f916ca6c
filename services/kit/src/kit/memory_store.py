"""An in-memory stand-in for the store's document calls, for the fast test tier (rule tests
that run a service's real code without a store) and for benchmarks that build projections
in memory before loading them.

It answers what the services' rules ask of a collection: `find` (with projection, sort,
skip and limit; iterated or `to_list`), `find_one`, `count_documents`, `distinct`,
`insert_one`/`insert_many` (a duplicate `_id` is pymongo's DuplicateKeyError),
`update_one`/`update_many`/`replace_one`/`find_one_and_update` (with upsert),
`delete_one`/`delete_many`.
Queries: equality (also against an array's elements), `$eq $ne $in $nin $gt $gte $lt $lte
$exists`, `$or $and $nor`, dotted paths. Updates: `$set $setOnInsert $unset $inc $min $max
$addToSet $push $pull` (dotted paths). Anything else raises NotImplementedError, so a rule
that starts to need more of the store fails loudly instead of being answered wrongly.
Documents are kept as the store would give them back (through BSON). Sessions are
accepted and ignored: `kit.memory` gives the transactions.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import decode, encode
from bson.codec_options import CodecOptions
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
OPERATORS = {
    "$set",
    "$setOnInsert",
    "$addToSet",
    "$min",
    "$max",
    "$unset",
    "$inc",
    "$push",
    "$pull",
}
_MISSING = object()
# What is written is kept as the store would give it back: through BSON, read time-zone
# aware as the services' clients do (enums become their values, times lose microseconds,
# what BSON cannot hold is refused as the driver refuses it).
_CODEC: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)


def _through_bson(value: Any) -> Any:
    return decode(encode({"v": value}), codec_options=_CODEC)["v"]


def _plain(value: Any) -> Any:
    """`value` as BSON would give it back. The common types are converted here (an
    encode and decode per write made projecting in memory seven times slower); anything
    else (enums, ids, decimals, what BSON refuses) goes through BSON itself."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict and all(type(k) is str for k in value):
        return {k: _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is datetime:
        at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return at.replace(microsecond=at.microsecond // 1000 * 1000)  # BSON keeps ms
    return _through_bson(value)


def stored(doc: Document) -> Document:
    out: Document = _plain(doc)
    return out


def _stored_value(value: Any) -> Any:
    return _plain(value)


@dataclass
class InsertOneResult:
    inserted_id: Any


@dataclass
class InsertManyResult:
    inserted_ids: list[Any]


@dataclass
class UpdateResult:
    matched_count: int
    modified_count: int
    upserted_id: Any = None


@dataclass
class DeleteResult:
    deleted_count: int


# -- reading a path -------------------------------------------------------------------


def _values(doc: Any, path: str) -> list[Any]:
    """Every value at `path` (through arrays, as the store does); empty when missing."""
    head, _, rest = path.partition(".")
    if isinstance(doc, list):
        if head.isdigit() and int(head) < len(doc):
            found = [doc[int(head)]]
        else:
            return [v for item in doc for v in _values(item, path)]
    elif isinstance(doc, dict) and head in doc:
        found = [doc[head]]
    else:
        return []
    if not rest:
        return found
    return [v for value in found for v in _values(value, rest)]


def _candidates(values: list[Any]) -> list[Any]:
    # A field that holds an array matches a value equal to the array or to an element.
    out: list[Any] = []
    for value in values:
        out.append(value)
        if isinstance(value, list):
            out.extend(value)
    return out


def _compare(a: Any, b: Any, op: str) -> bool:
    try:
        if op == "$gt":
            return bool(a > b)
        if op == "$gte":
            return bool(a >= b)
        if op == "$lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:  # the store compares across types by type order; rules never need it
        return False


def _field_matches(doc: Document, path: str, condition: Any) -> bool:
    values = _values(doc, path)
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return all(_operator(values, op, arg) for op, arg in condition.items())
    return _equals(values, condition)


def _equals(values: list[Any], wanted: Any) -> bool:
    if wanted is None and not values:
        return True  # null matches a missing field
    return any(v == wanted for v in _candidates(values))


def _operator(values: list[Any], op: str, arg: Any) -> bool:
    if op == "$eq":
        return _equals(values, arg)
    if op == "$ne":
        return not _equals(values, arg)
    if op == "$in":
        return any(_equals(values, a) for a in arg)
    if op == "$nin":
        return not any(_equals(values, a) for a in arg)
    if op == "$exists":
        return bool(values) == bool(arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return any(_compare(v, arg, op) for v in _candidates(values) if v is not None)
    raise NotImplementedError(f"the memory store has no query operator {op}")


QUERY_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists"}


def check(query: dict[str, Any] | None) -> None:
    """Refuse a query it cannot answer before looking at any document (an empty
    collection would otherwise answer it)."""
    for key, condition in (query or {}).items():
        if key in ("$or", "$and", "$nor"):
            for part in condition:
                check(part)
        elif key.startswith("$"):
            raise NotImplementedError(f"the memory store has no query operator {key}")
        elif isinstance(condition, dict) and any(k.startswith("$") for k in condition):
            unknown = set(condition) - QUERY_OPERATORS
            if unknown:
                raise NotImplementedError(f"the memory store has no query operator {unknown}")


def matches(doc: Document, query: dict[str, Any] | None) -> bool:
    for key, condition in (query or {}).items():
        if key == "$or":
            if not any(matches(doc, q) for q in condition):
                return False
        elif key == "$and":
            if not all(matches(doc, q) for q in condition):
                return False
        elif key == "$nor":
            if any(matches(doc, q) for q in condition):
                return False
        elif key.startswith("$"):
            raise NotImplementedError(f"the memory store has no query operator {key}")
        elif not _field_matches(doc, key, condition):
            return False
    return True


# -- writing a path -------------------------------------------------------------------


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


def _apply(doc: Document, update: dict[str, Any], *, inserted: bool) -> bool:
    """Apply `update` to `doc` in place; whether anything changed (`modified_count`)."""
    unknown = set(update) - OPERATORS
    if unknown:
        raise NotImplementedError(f"the memory store has no {sorted(unknown)}")
    update = {op: stored(args) if isinstance(args, dict) else args for op, args in update.items()}
    changed = inserted
    for path, value in update.get("$set", {}).items():
        parent, leaf = _parent(doc, path)
        changed = changed or parent.get(leaf, _MISSING) != value
        parent[leaf] = value
    if inserted:
        for path, value in update.get("$setOnInsert", {}).items():
            parent, leaf = _parent(doc, path)
            parent[leaf] = value
    for path, value in update.get("$addToSet", {}).items():
        parent, leaf = _parent(doc, path)
        items = parent.setdefault(leaf, [])
        for item in _each(value):
            if item not in items:
                items.append(copy.deepcopy(item))
                changed = True
    for path, value in update.get("$push", {}).items():
        parent, leaf = _parent(doc, path)
        pushed = copy.deepcopy(list(_each(value)))
        parent.setdefault(leaf, []).extend(pushed)
        changed = changed or bool(pushed)
    for path, value in update.get("$pull", {}).items():
        held, leaf = _existing_parent(doc, path)
        if held is not None and isinstance(held.get(leaf), list):
            kept = [item for item in held[leaf] if not _pulled(item, value)]
            changed = changed or len(kept) != len(held[leaf])
            held[leaf] = kept
    for path, value in update.get("$min", {}).items():
        parent, leaf = _parent(doc, path)
        if leaf not in parent or value < parent[leaf]:
            parent[leaf] = value
            changed = True
    for path, value in update.get("$max", {}).items():
        parent, leaf = _parent(doc, path)
        if leaf not in parent or value > parent[leaf]:
            parent[leaf] = value
            changed = True
    for path in update.get("$unset", {}):
        held, leaf = _existing_parent(doc, path)
        if held is not None and leaf in held:
            del held[leaf]
            changed = True
    for path, value in update.get("$inc", {}).items():
        parent, leaf = _parent(doc, path)
        changed = changed or leaf not in parent or value != 0
        parent[leaf] = parent.get(leaf, 0) + value
    return changed


def _each(value: Any) -> Iterable[Any]:
    if isinstance(value, dict) and set(value) == {"$each"}:
        return list(value["$each"])
    if isinstance(value, dict) and any(k.startswith("$") for k in value):
        raise NotImplementedError(f"the memory store has no array modifier in {value!r}")
    return [value]


def _pulled(item: Any, condition: Any) -> bool:
    if isinstance(condition, dict) and isinstance(item, dict):
        return matches(item, condition)
    return bool(item == condition)


def _upserted(query: dict[str, Any]) -> Document:
    """The document an upsert starts from: the query's plain equalities."""
    doc: Document = {}
    for key, value in query.items():
        if key.startswith("$"):
            continue
        if isinstance(value, dict) and any(k.startswith("$") for k in value):
            if set(value) == {"$eq"}:
                value = value["$eq"]
            else:
                continue
        parent, leaf = _parent(doc, key)
        parent[leaf] = _stored_value(value)
    return doc


# -- shaping what is read -------------------------------------------------------------


def _project(doc: Document, projection: Any) -> Document:
    if not projection:
        return copy.deepcopy(doc)
    if isinstance(projection, list | tuple):
        projection = dict.fromkeys(projection, 1)
    keep_id = projection.get("_id", 1)
    shown = {k: v for k, v in projection.items() if k != "_id"}
    if shown and all(not v for v in shown.values()):
        out = copy.deepcopy(doc)
        for path in shown:
            held, leaf = _existing_parent(out, path)
            if held is not None:
                held.pop(leaf, None)
    else:
        out = {}
        for path in shown:
            value: Any = doc
            for part in path.split("."):
                value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
            if value is not _MISSING:
                parent, leaf = _parent(out, path)
                parent[leaf] = copy.deepcopy(value)
    if keep_id and "_id" in doc:
        out["_id"] = copy.deepcopy(doc["_id"])
    elif not keep_id:
        out.pop("_id", None)
    return out


def _sort_key(value: Any) -> tuple[int, Any]:
    # Missing and null first, as the store orders them; values of one type among themselves.
    return (0, 0) if value is None else (1, value)


def _sorted(docs: list[Document], sort: Any) -> list[Document]:
    if not sort:
        return docs
    keys: list[tuple[str, int]] = [(sort, 1)] if isinstance(sort, str) else list(sort)
    for path, direction in reversed(keys):  # stable sorts, the last key first

        def key(doc: Document, path: str = path) -> tuple[int, Any]:
            return _sort_key((_values(doc, path) or [None])[0])

        docs = sorted(docs, key=key, reverse=direction < 0)
    return docs


class MemoryCursor:
    """What `find` gives: iterate it (`async for`) or take `to_list()`."""

    def __init__(self, docs: list[Document]) -> None:
        self._docs = docs

    def __aiter__(self) -> AsyncIterator[Document]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Document]:
        for doc in self._docs:
            yield doc

    async def to_list(self, length: int | None = None) -> list[Document]:
        return list(self._docs if not length else self._docs[:length])


class MemoryCollection:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.docs: dict[Any, Document] = {}

    def _matching(self, query: dict[str, Any] | None) -> Iterator[Document]:
        check(query)
        return self._scan(query)

    def _scan(self, query: dict[str, Any] | None) -> Iterator[Document]:
        # By _id alone (the projections' every call): one look-up, not a scan.
        if query and set(query) == {"_id"} and not isinstance(query["_id"], dict | list):
            doc = self.docs.get(query["_id"])
            if doc is not None:
                yield doc
            return
        for doc in list(self.docs.values()):
            if matches(doc, query):
                yield doc

    def find(
        self,
        query: dict[str, Any] | None = None,
        projection: Any = None,
        *,
        sort: Any = None,
        skip: int = 0,
        limit: int = 0,
        **_: Any,
    ) -> MemoryCursor:
        docs = _sorted(list(self._matching(query)), sort)[skip:]
        if limit:
            docs = docs[:limit]
        return MemoryCursor([_project(d, projection) for d in docs])

    async def find_one(
        self, query: dict[str, Any] | None = None, projection: Any = None, **kwargs: Any
    ) -> Document | None:
        if not kwargs and query and set(query) == {"_id"} and type(query["_id"]) is str:
            doc = self.docs.get(query["_id"])  # the projections' every call: no scan
            return None if doc is None else _project(doc, projection)
        found = await self.find(query, projection, limit=1, **kwargs).to_list()
        return found[0] if found else None

    async def peek(self, key: Any) -> Document | None:
        """The document itself, to read only (as analytics' batch overlay gives it)."""
        return self.docs.get(key)

    async def count_documents(self, query: dict[str, Any], **_: Any) -> int:
        return sum(1 for _ in self._matching(query))

    async def distinct(self, key: str, query: dict[str, Any] | None = None, **_: Any) -> list[Any]:
        out: list[Any] = []
        for doc in self._matching(query):
            for value in _candidates(_values(doc, key)):
                if not isinstance(value, list) and value not in out:
                    out.append(value)
        return out

    async def insert_one(self, doc: Document, **_: Any) -> InsertOneResult:
        if "_id" not in doc:
            raise NotImplementedError("the memory store does not make _ids: give one")
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"E11000 duplicate key {self.name} _id {doc['_id']!r}")
        self.docs[doc["_id"]] = stored(doc)
        return InsertOneResult(doc["_id"])

    async def insert_many(
        self, docs: Iterable[Document], ordered: bool = True, **_: Any
    ) -> InsertManyResult:
        ids = []
        for doc in docs:
            try:
                ids.append((await self.insert_one(doc)).inserted_id)
            except DuplicateKeyError:
                if ordered:
                    raise
        return InsertManyResult(ids)

    async def _update(
        self, query: dict[str, Any], update: dict[str, Any], *, upsert: bool, many: bool
    ) -> UpdateResult:
        if set(update) - OPERATORS:  # a replacement or an unknown operator
            raise NotImplementedError(f"the memory store has no {sorted(set(update) - OPERATORS)}")
        found = list(self._matching(query))
        if not many:
            found = found[:1]
        if not found:
            if not upsert:
                return UpdateResult(0, 0)
            doc = _upserted(query)
            _apply(doc, update, inserted=True)
            if "_id" not in doc:
                raise NotImplementedError("the memory store does not make _ids: upsert by _id")
            self.docs[doc["_id"]] = doc
            return UpdateResult(0, 0, doc["_id"])
        modified = sum(_apply(doc, update, inserted=False) for doc in found)
        return UpdateResult(len(found), modified)

    async def update_one(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False, **_: Any
    ) -> UpdateResult:
        return await self._update(query, update, upsert=upsert, many=False)

    async def update_many(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False, **_: Any
    ) -> UpdateResult:
        return await self._update(query, update, upsert=upsert, many=True)

    async def replace_one(
        self, query: dict[str, Any], replacement: Document, upsert: bool = False, **_: Any
    ) -> UpdateResult:
        if any(k.startswith("$") for k in replacement):
            raise ValueError("replacement can not include $ operators")  # as pymongo says
        for doc in self._matching(query):
            fresh = stored({**replacement, "_id": doc["_id"]})
            modified = fresh != doc
            self.docs[doc["_id"]] = fresh
            return UpdateResult(1, int(modified))
        if not upsert:
            return UpdateResult(0, 0)
        doc = {**_upserted(query), **stored(replacement)}
        if "_id" not in doc:
            raise NotImplementedError("the memory store does not make _ids: upsert by _id")
        self.docs[doc["_id"]] = doc
        return UpdateResult(0, 0, doc["_id"])

    async def find_one_and_update(
        self,
        query: dict[str, Any],
        update: dict[str, Any],
        projection: Any = None,
        *,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        **_: Any,
    ) -> Document | None:
        found = _sorted(list(self._matching(query)), sort)[:1]
        if not found:
            result = await self._update(query, update, upsert=upsert, many=False)
            if result.upserted_id is None or return_document == ReturnDocument.BEFORE:
                return None
            return _project(self.docs[result.upserted_id], projection)
        doc = found[0]
        before = _project(doc, projection)
        _apply(doc, update, inserted=False)
        return before if return_document == ReturnDocument.BEFORE else _project(doc, projection)

    async def find_one_and_delete(
        self, query: dict[str, Any], projection: Any = None, **_: Any
    ) -> Document | None:
        for doc in self._matching(query):
            del self.docs[doc["_id"]]
            return _project(doc, projection)
        return None

    async def delete_one(self, query: dict[str, Any], **_: Any) -> DeleteResult:
        for doc in self._matching(query):
            del self.docs[doc["_id"]]
            return DeleteResult(1)
        return DeleteResult(0)

    async def delete_many(self, query: dict[str, Any], **_: Any) -> DeleteResult:
        gone = [doc["_id"] for doc in self._matching(query)]
        for key in gone:
            del self.docs[key]
        return DeleteResult(len(gone))

    def __getattr__(self, name: str) -> Any:
        # Anything else the driver has (aggregate, bulk_write, indexes...) is refused.
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotImplementedError(f"the memory store has no {name}()")


class MemoryDatabase:
    def __init__(self) -> None:
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self.collections:
            self.collections[name] = MemoryCollection(name)
        return self.collections[name]

    def __getattr__(self, name: str) -> MemoryCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def snapshot(self) -> dict[str, dict[Any, Document]]:
        return {name: copy.deepcopy(c.docs) for name, c in self.collections.items()}

    def restore(self, snapshot: dict[str, dict[Any, Document]]) -> None:
        for name, collection in self.collections.items():
            collection.docs = snapshot.get(name, {})
