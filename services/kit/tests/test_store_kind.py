"""Store options per kind of store: retryable writes and the driver's pool for MongoDB,
neither for the embedded store; explicit settings win; `auto` asks the server."""

from __future__ import annotations

from kit import localstore
from kit.mongo import Store, client_options, resolve_kind
from kit.settings import KitSettings


def test_options_follow_the_kind_and_settings_win() -> None:
    base = KitSettings()
    production = client_options(base, "mongodb")
    assert production["retryWrites"] is True and production["maxPoolSize"] == 100
    assert "socketTimeoutMS" not in production
    embedded = client_options(base, "embedded")
    assert embedded["retryWrites"] is False and embedded["maxPoolSize"] == 8
    tuned = KitSettings(
        mongo_retry_writes=False,
        mongo_pool_size=40,
        mongo_timeout_ms=1500,
        mongo_socket_timeout_ms=20000,
    )
    options = client_options(tuned, "mongodb")
    assert options["retryWrites"] is False and options["maxPoolSize"] == 40
    assert options["serverSelectionTimeoutMS"] == options["connectTimeoutMS"] == 1500
    assert options["socketTimeoutMS"] == 20000


async def test_auto_asks_the_server(mongo_url: str) -> None:
    # This run's store is the embedded one (unless a MongoDB was given for the run).
    found = resolve_kind(KitSettings(mongo_url=mongo_url, mongo_kind="auto"))
    store = Store(KitSettings(mongo_url=mongo_url, mongo_kind="auto", service="kindtest"))
    try:
        assert store.kind == found
        expected = client_options(KitSettings(), found)
        assert store.client.options.retry_writes is expected["retryWrites"]
        assert store.client.options.pool_options.max_pool_size == expected["maxPoolSize"]
        await store.ping()
    finally:
        await store.close()


def test_auto_without_an_answer_takes_the_safe_options() -> None:
    nobody = f"mongodb://127.0.0.1:{localstore.free_port()}/"
    settings = KitSettings(mongo_url=nobody, mongo_kind="auto", mongo_timeout_ms=200)
    assert resolve_kind(settings) == "mongodb"
    assert resolve_kind(KitSettings(mongo_url=nobody, mongo_kind="embedded")) == "embedded"
