"""The embedded store as tests and local runs start it: standalone (no oplog, which
Kohtaamo never reads), with transactions that roll back and conflict as the services
rely on (the ESF counters and booking checks retry on a write conflict)."""

from __future__ import annotations

import uuid

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure


async def test_the_embedded_store_runs_without_an_oplog_and_keeps_transactions(
    mongo_url: str,
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    db = client[f"t_localstore_{uuid.uuid4().hex[:8]}"]
    try:
        hello = await client.admin.command("hello")
        assert "setName" not in hello  # standalone: no replica set, no oplog
        await db.things.insert_one({"_id": 1, "n": 0})

        async with client.start_session() as session:
            await session.start_transaction()
            await db.things.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=session)
            await session.abort_transaction()
        assert (await db.things.find_one({"_id": 1}) or {})["n"] == 0

        async with client.start_session() as first, client.start_session() as second:
            await first.start_transaction()
            await second.start_transaction()
            await db.things.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=first)
            with pytest.raises(OperationFailure) as conflict:
                await db.things.update_one({"_id": 1}, {"$inc": {"n": 10}}, session=second)
            assert conflict.value.has_error_label("TransientTransactionError")
            await second.abort_transaction()
            await first.commit_transaction()
        assert (await db.things.find_one({"_id": 1}) or {})["n"] == 1
    finally:
        await client.drop_database(db.name)
        await client.close()
