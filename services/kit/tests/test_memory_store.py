"""kit.memory_store: queries, sorts, projections and update operators as the store applies
them, and a loud refusal of anything else (no infrastructure)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from kit.memory_store import MemoryDatabase


async def test_operators_on_dotted_paths_and_upsert() -> None:
    people = MemoryDatabase()["people"]
    await people.update_one({"_id": "p"}, {"$set": {"a": 1}})  # no upsert: nothing
    assert await people.find_one({"_id": "p"}) is None
    update = {
        "$set": {"name.fi": "Aino"},
        "$setOnInsert": {"since": 2024},
        "$addToSet": {"tags": "x"},
        "$min": {"first": 5},
        "$inc": {"c.q1.n": 2},
    }
    await people.update_one({"_id": "p"}, update, upsert=True)
    again = {**update, "$setOnInsert": {"since": 2030}, "$min": {"first": 3}}
    await people.update_one({"_id": "p"}, again, upsert=True)
    await people.update_one({"_id": "p"}, {"$unset": {"name.fi": "", "gone.deep": ""}})
    assert await people.find_one({"_id": "p"}) == {
        "_id": "p", "name": {}, "since": 2024, "tags": ["x"], "first": 3, "c": {"q1": {"n": 4}},
    }  # fmt: skip
    found = await people.find_one({"_id": "p"})
    assert found is not None
    found["tags"].append("changed")  # a copy: the stored document stays
    assert (await people.peek("p") or {})["tags"] == ["x"]
    await people.delete_one({"_id": "p"})
    assert await people.find_one({"_id": "p"}) is None


async def test_queries_sorts_and_projections_as_the_store_answers() -> None:
    people = MemoryDatabase()["people"]
    await people.insert_many(
        [
            {"_id": "a", "m": "helsinki", "age": 30, "tags": ["x", "y"], "home": {"zip": "00100"}},
            {"_id": "b", "m": "kouvola", "age": 20, "tags": ["y"]},
            {"_id": "c", "m": "helsinki", "age": 40, "tags": []},
        ]
    )
    with pytest.raises(DuplicateKeyError):
        await people.insert_one({"_id": "a"})

    async def ids(query: dict[str, Any], **kwargs: Any) -> list[str]:
        return [d["_id"] async for d in people.find(query, **kwargs)]

    assert await ids({"m": "helsinki"}, sort=[("age", -1)]) == ["c", "a"]
    assert await ids({"tags": "y"}, sort="age") == ["b", "a"]  # an array's element
    assert await ids({"age": {"$gte": 20, "$lt": 40}}, sort="_id") == ["a", "b"]
    assert await ids({"$or": [{"age": 40}, {"home.zip": "00100"}]}, sort="_id") == ["a", "c"]
    assert await ids({"home": {"$exists": False}, "m": {"$nin": ["kouvola"]}}) == ["c"]
    assert await ids({"m": {"$ne": "helsinki"}, "nothing": None}) == ["b"]
    assert await people.find_one({"_id": "a"}, {"home.zip": 1}) == {
        "_id": "a", "home": {"zip": "00100"}
    }  # fmt: skip
    assert await people.count_documents({"age": {"$in": [20, 40]}}) == 2
    assert sorted(await people.distinct("tags")) == ["x", "y"]

    many = await people.update_many({"m": "helsinki"}, {"$inc": {"age": 1}, "$push": {"tags": "z"}})
    assert (many.matched_count, many.modified_count) == (2, 2)
    before = await people.find_one_and_update({"_id": "b"}, {"$max": {"age": 25}})
    assert before is not None and before["age"] == 20
    assert (await people.find_one({"_id": "b"}) or {})["age"] == 25
    upserted = await people.update_one(
        {"_id": "d", "m": "espoo"}, {"$setOnInsert": {"age": 1}}, upsert=True
    )
    assert upserted.upserted_id == "d"
    assert await people.find_one({"_id": "d"}) == {"_id": "d", "m": "espoo", "age": 1}
    await people.update_one({"_id": "a"}, {"$pull": {"tags": "x"}})
    assert (await people.find_one({"_id": "a"}) or {})["tags"] == ["y", "z"]
    gone = await people.delete_many({"_id": {"$in": ["a", "b"]}})
    assert gone.deleted_count == 2
    assert await ids({}, sort="_id") == ["c", "d"]


async def test_kept_as_the_store_gives_it_back() -> None:
    class Colour(StrEnum):
        red = "red"

    things = MemoryDatabase()["things"]
    at = datetime(2027, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    await things.insert_one({"_id": "t", "colour": Colour.red, "at": at, "pair": (1, 2)})
    found = await things.find_one({"_id": "t"})
    assert found == {"_id": "t", "colour": "red", "at": at.replace(microsecond=678_000),
                     "pair": [1, 2]}  # fmt: skip
    assert type(found["colour"]) is str
    same = await things.update_one({"_id": "t"}, {"$set": {"colour": "red"}})
    assert (same.matched_count, same.modified_count) == (1, 0)  # nothing changed
    other = await things.update_one({"_id": "t"}, {"$set": {"colour": "blue"}, "$inc": {"n": 0}})
    assert (other.matched_count, other.modified_count) == (1, 1)


async def test_what_it_cannot_answer_is_refused() -> None:
    people = MemoryDatabase()["people"]
    with pytest.raises(NotImplementedError, match=r"\$regex"):
        await people.find_one({"name": {"$regex": "^A"}})
    with pytest.raises(NotImplementedError, match=r"\$rename"):
        await people.update_one({"_id": "p"}, {"$rename": {"a": "b"}}, upsert=True)
    with pytest.raises(NotImplementedError, match="aggregate"):
        people.aggregate([])
    with pytest.raises(NotImplementedError, match="_id"):
        await people.insert_one({"name": "no id"})
