"""Backups of the services' databases without MongoDB's database tools: `kohtaamo backup
dump` writes each database as a directory in mongodump's layout (`<db>/<collection>.bson`,
the documents one after another, and `<collection>.metadata.json` with its indexes), and
`kohtaamo backup restore` reads it back. With a real MongoDB, mongodump and mongorestore do
the same (docs/operations.md); this is for the embedded store and for sites without them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, cast

import bson
from bson import json_util
from pymongo import MongoClient

# Documents per insert on restore: bounded memory for large collections.
BATCH = 1000


def databases(client: MongoClient[dict[str, Any]], prefix: str) -> list[str]:
    return sorted(n for n in client.list_database_names() if n.startswith(prefix))


def _open(path: Path, mode: Literal["rb", "wb"], compress: bool) -> IO[bytes]:
    if compress:
        # A GzipFile is a binary file; typeshed does not derive it from IO[bytes].
        return cast(IO[bytes], gzip.open(path, mode))
    return open(path, mode)


def dump(
    client: MongoClient[dict[str, Any]], out: Path, names: list[str], *, compress: bool = True
) -> dict[str, int]:
    """Every collection of `names` under `out`; returns documents per `db.collection`."""
    counts: dict[str, int] = {}
    suffix = ".bson.gz" if compress else ".bson"
    for name in names:
        db = client[name]
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        for collection in sorted(db.list_collection_names()):
            n = 0
            with _open(target / f"{collection}{suffix}", "wb", compress) as file:
                # Natural order, no sort: the store need not order anything for a dump.
                for document in db[collection].find({}, batch_size=BATCH):
                    file.write(bson.encode(document))
                    n += 1
            indexes = [
                {k: v for k, v in index.items() if k != "ns"}
                for index in db[collection].list_indexes()
            ]
            metadata = {"collectionName": collection, "type": "collection", "indexes": indexes}
            (target / f"{collection}.metadata.json").write_text(json_util.dumps(metadata))
            counts[f"{name}.{collection}"] = n
    return counts


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path, "rb", path.name.endswith(".gz")) as file:
        yield from bson.decode_file_iter(file)


def restore(
    client: MongoClient[dict[str, Any]], source: Path, *, drop: bool = False
) -> dict[str, int]:
    """Every database directory under `source` back into the store (each collection dropped
    first with `drop`; without it, a collection that has documents is refused)."""
    counts: dict[str, int] = {}
    for directory in sorted(p for p in source.iterdir() if p.is_dir()):
        db = client[directory.name]
        for data in sorted(directory.glob("*.bson*")):
            collection = data.name.split(".bson")[0]
            if drop:
                db.drop_collection(collection)
            elif db[collection].estimated_document_count():
                raise ValueError(f"{directory.name}.{collection} is not empty (use --drop)")
            n = 0
            batch: list[dict[str, Any]] = []
            for document in _documents(data):
                batch.append(document)
                if len(batch) == BATCH:
                    db[collection].insert_many(batch, ordered=True)
                    n, batch = n + len(batch), []
            if batch:
                db[collection].insert_many(batch, ordered=True)
                n += len(batch)
            _create_indexes(db[collection], directory / f"{collection}.metadata.json")
            counts[f"{directory.name}.{collection}"] = n
    return counts


def _create_indexes(collection: Any, metadata: Path) -> None:
    zipped = metadata.with_name(metadata.name + ".gz")  # mongodump --gzip compresses it too
    if zipped.exists():
        text = gzip.decompress(zipped.read_bytes()).decode()
    elif metadata.exists():
        text = metadata.read_text()
    else:
        return
    indexes = json_util.loads(text).get("indexes", [])
    for index in indexes:
        if index["name"] == "_id_":
            continue
        options = {k: v for k, v in index.items() if k not in ("key", "v")}
        collection.create_index(list(index["key"].items()), **options)


def summary(counts: dict[str, int]) -> str:
    return json.dumps({"collections": len(counts), "documents": sum(counts.values())})
