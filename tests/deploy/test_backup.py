"""Backup and restore with the kohtaamo CLI, as an operator runs them: the databases of a
store are dumped (mongodump's layout), restored into a fresh embedded store, and every
collection compared with its source: documents (every BSON type the services store) and
indexes (unique ones refuse duplicates again)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Decimal128, ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import DuplicateKeyError

from kit import backup, localstore


def cli(*args: str, mongo_url: str) -> str:
    env = {**os.environ, "KOHTAAMO_MONGO_URL": mongo_url, "KOHTAAMO_MONGO_KIND": "embedded"}
    done = subprocess.run(
        [sys.executable, "-m", "kit.cli", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[str]:
    port = localstore.free_port()
    process = localstore.start_store(data_dir=":memory:", port=port)
    try:
        yield localstore.store_url(port)
    finally:
        localstore.stop_store(process)


def contents(client: MongoClient[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        db = client[name]
        for collection in sorted(db.list_collection_names()):
            documents = sorted(db[collection].find(), key=lambda d: str(d["_id"]))
            indexes = sorted(
                (i["name"], list(i["key"].items()), bool(i.get("unique")))
                for i in db[collection].list_indexes()
            )
            out[f"{name}.{collection}"] = (documents, indexes)
    return out


def test_dump_restore_into_a_fresh_store_keeps_everything(
    mongo_url: str, fresh_store: str, tmp_path: Path
) -> None:
    prefix = f"kohtaamo_bk{uuid.uuid4().hex[:6]}_"
    names = [prefix + "events", prefix + "bookings"]
    with MongoClient(mongo_url, retryWrites=False, tz_aware=True) as source:
        events = source[names[0]]
        events.registrations.create_index(
            [("event_id", ASCENDING), ("user_id", ASCENDING)], unique=True, name="one_per_user"
        )
        events.events.create_index([("municipality", ASCENDING), ("starts_at", DESCENDING)])
        events.registrations.insert_many(
            [{"event_id": f"e{n % 7}", "user_id": f"u{n}", "n": n} for n in range(2500)]
        )
        events.events.insert_one(
            {
                "_id": ObjectId(),
                "municipality": "helsinki",
                "starts_at": datetime(2027, 3, 1, 9, 30, tzinfo=UTC),
                "title": {"fi": "Työpaja", "sv": "Verkstad", "en": "Workshop ✓"},
                "price": Decimal128(Decimal("12.50")),
                "photo": Binary(b"\x00\xff" * 50),
                "tags": ["a", None, 3, 4.5, True],
            }
        )
        source[names[1]].bookings.insert_one({"_id": "b1", "empty": {}, "list": []})
        source[names[1]].empty_one.create_index("x")  # a collection with no documents
        before = contents(source, names)

    dumped = cli("backup", "dump", str(tmp_path / "dump"), "--prefix", prefix, mongo_url=mongo_url)
    assert '"documents": 2502' in dumped
    assert (tmp_path / "dump" / names[0] / "registrations.bson.gz").is_file()
    assert (tmp_path / "dump" / names[0] / "registrations.metadata.json").is_file()

    restored = cli("backup", "restore", str(tmp_path / "dump"), mongo_url=fresh_store)
    assert '"documents": 2502' in restored
    with MongoClient(fresh_store, retryWrites=False, tz_aware=True) as target:
        assert contents(target, names) == before
        # The unique index works again, not just its description.
        with pytest.raises(DuplicateKeyError):
            target[names[0]].registrations.insert_one({"event_id": "e0", "user_id": "u0"})

        # A second restore does not silently mix data into what is there.
        with pytest.raises(ValueError, match="not empty"):
            backup.restore(target, tmp_path / "dump")
    with MongoClient(mongo_url, retryWrites=False) as source:
        for name in names:
            source.drop_database(name)
