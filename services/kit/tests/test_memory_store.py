"""kit.memory_store: the update operators as the store applies them, by _id, and a loud
refusal of anything else (no infrastructure)."""

from __future__ import annotations

import pytest

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


async def test_what_it_cannot_answer_is_refused() -> None:
    people = MemoryDatabase()["people"]
    with pytest.raises(NotImplementedError, match="by _id only"):
        await people.find_one({"municipality": "helsinki"})
    with pytest.raises(NotImplementedError, match="by _id only"):
        await people.delete_many({"_id": {"$in": ["a", "b"]}})
    with pytest.raises(NotImplementedError, match=r"\$push"):
        await people.update_one({"_id": "p"}, {"$push": {"tags": "x"}}, upsert=True)
