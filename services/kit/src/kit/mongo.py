"""The service's MongoDB database through PyMongo's async client.

Options follow the kind of store (KOHTAAMO_MONGO_KIND): a real MongoDB gets retryable
writes and the driver's pool; the embedded store of development and tests (SecantusDB)
gets `retryWrites=false` (it has none) and a small pool (it slows down badly with many
connections). Explicit settings win over both. With `auto` the server is asked once, when
the client is made (its options cannot change later, and collections are taken from it
early); `make run`, compose, the tests and the Kubernetes overlays set the kind instead."""

from __future__ import annotations

from typing import Any

import structlog
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from kit.settings import KitSettings

log = structlog.get_logger("kit.mongo")
# Connections per process when not configured.
POOL = {"mongodb": 100, "embedded": 8}


def client_options(settings: KitSettings, kind: str) -> dict[str, Any]:
    """The driver options for a store of `kind` ("mongodb" or "embedded")."""
    retry = settings.mongo_retry_writes
    options: dict[str, Any] = {
        "retryWrites": (kind == "mongodb") if retry is None else retry,
        "maxPoolSize": settings.mongo_pool_size or POOL[kind],
        "serverSelectionTimeoutMS": settings.mongo_timeout_ms,
        "connectTimeoutMS": settings.mongo_timeout_ms,
        "tz_aware": True,
    }
    if settings.mongo_socket_timeout_ms:
        options["socketTimeoutMS"] = settings.mongo_socket_timeout_ms
    return options


def resolve_kind(settings: KitSettings) -> str:
    """The configured kind, or for `auto` what the server says it is: SecantusDB names
    itself in buildInfo. A server that does not answer in time counts as MongoDB (the safe
    options); the service's readiness reports it unreachable anyway."""
    if settings.mongo_kind != "auto":
        return settings.mongo_kind
    probe: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongo_url.get_secret_value(),
        serverSelectionTimeoutMS=min(settings.mongo_timeout_ms, 1000),
        connect=False,
    )
    try:
        info = probe.admin.command("buildInfo")
    except PyMongoError as exc:
        log.warning("store.kind_unknown", error=str(exc)[:200], assumed="mongodb")
        return "mongodb"
    finally:
        probe.close()
    return "embedded" if "secantusVersion" in info else "mongodb"


def connect(settings: KitSettings, kind: str | None = None) -> AsyncMongoClient[dict[str, Any]]:
    options = client_options(settings, kind or resolve_kind(settings))
    return AsyncMongoClient(settings.mongo_url.get_secret_value(), **options)


class Store:
    """The client and database of one service (transactions: kit.uow)."""

    def __init__(self, settings: KitSettings) -> None:
        self.kind = resolve_kind(settings)
        self.client = connect(settings, self.kind)
        self.db: AsyncDatabase[dict[str, Any]] = self.client[settings.database_name()]

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()
