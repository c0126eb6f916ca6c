"""Pytest plugin shared by every test suite (enabled in pyproject): a real RabbitMQ (a fresh
virtual host per run) and a real MongoDB-compatible store (an embedded SecantusDB daemon
per run unless KOHTAAMO_TEST_MONGO_URL is given) and Redis (the machine's, keys under a
prefix per run). What a run creates is removed at its end."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from kit import localstore, rabbit_env
from kit.settings import DEMO_MUNICIPALITIES, KitSettings

RUN_ID = uuid.uuid4().hex[:8]
# The fixtures that reach real infrastructure, and the marker a test using any of them
# (directly or through another fixture) gets: `pytest -m "not broker and not store"` (make
# test-fast) runs only the tests that need neither.
NEEDS = {
    "amqp_url": "broker",
    "make_vhost": "broker",
    "private_broker": "broker",
    "mongo_url": "store",
    "redis_url": "store",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker in sorted({NEEDS[name] for name in used & NEEDS.keys()}):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    base = os.environ.get("KOHTAAMO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    vhost = f"kohtaamo-test-{RUN_ID}"
    rabbit_env.create_vhost(vhost)
    try:
        yield rabbit_env.with_vhost(base, vhost)
    finally:
        rabbit_env.delete_vhost(vhost)


@pytest.fixture(scope="session")
def make_vhost(amqp_url: str) -> Iterator[Callable[[str], str]]:
    """Another virtual host of this run, for a whole platform of service processes that
    lives for the session: its consumers must not compete with other tests' services for
    the same queue names in the run's main vhost."""
    base = os.environ.get("KOHTAAMO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    made: list[str] = []

    def make(name: str) -> str:
        vhost = f"kohtaamo-test-{RUN_ID}-{name}"
        rabbit_env.create_vhost(vhost)
        made.append(vhost)
        return rabbit_env.with_vhost(base, vhost)

    try:
        yield make
    finally:
        for vhost in made:
            rabbit_env.delete_vhost(vhost)


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("KOHTAAMO_TEST_MONGO_URL")
    if given:
        yield given
        client: MongoClient[dict[str, Any]]
        with MongoClient(given, retryWrites=False) as client:
            for name in client.list_database_names():
                if name.startswith(f"t{RUN_ID}_"):
                    client.drop_database(name)
        return
    port = localstore.free_port()
    data = tmp_path_factory.mktemp("store")
    process = localstore.start_store(data_dir=data, port=port, log_file=data / "store.log")
    try:
        yield localstore.store_url(port)
    finally:
        localstore.stop_store(process)


@pytest.fixture(scope="session")
def make_settings(amqp_url: str, mongo_url: str) -> Callable[..., Any]:
    """Settings for a service under test: this run's vhost and databases, fast retries."""

    def make(service: str, cls: type[KitSettings] = KitSettings, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "service": service,
            "amqp_url": amqp_url,
            "mongo_url": mongo_url,
            "mongo_db_prefix": f"t{RUN_ID}_{uuid.uuid4().hex[:4]}_",
            # The run's own embedded store, or a given one whose kind is asked.
            "mongo_kind": "auto" if os.environ.get("KOHTAAMO_TEST_MONGO_URL") else "embedded",
            "retry_delays_ms": [100, 200],
            "delivery_limit": 5,
            "outbox_poll_s": 0.2,
            "log_format": "json",
            # Like `make run`: one site serving both demo municipalities.
            "municipalities": list(DEMO_MUNICIPALITIES),
        }
        values.update(overrides)
        return cls(**values)

    return make


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis (`make test` starts it when missing); a run's keys start with
    `redis_prefix` and are deleted at the end."""
    import redis

    url = os.environ.get("KOHTAAMO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    yield url
    with redis.Redis.from_url(url) as client:
        for key in client.scan_iter(match=f"kohtaamo-test-{RUN_ID}*", count=1000):
            client.delete(key)


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"kohtaamo-test-{RUN_ID}"


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:
    yield "asyncio"
