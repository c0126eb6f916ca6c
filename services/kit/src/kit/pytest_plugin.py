"""Pytest plugin shared by every test suite (enabled in pyproject): a real RabbitMQ (a fresh
virtual host per run) and a real MongoDB-compatible store (an embedded SecantusDB daemon
per run unless KOHTAAMO_TEST_MONGO_URL is given) and Redis (the machine's, keys under a
prefix per run). What a run creates is removed at its end."""

from __future__ import annotations

import json
import os
import secrets
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from pymongo import MongoClient

from contracts import topology
from kit import localstore, rabbit_env
from kit.broker_users import permissions, user_name
from kit.settings import DEMO_MUNICIPALITIES, KitSettings
from kit.signatures import new_key

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


# The run's service users: `kohtaamo-t<run>-<service>`.
USER_PREFIX = f"kohtaamo-t{RUN_ID}-"
# The run's site: its name and event signing key (every service under test signs with it,
# and so does kit.testing.envelope).
SITE = "test"
SITE_KEY = new_key(SITE, f"t{RUN_ID}")


class ServiceUsers:
    """The run's RabbitMQ users, one per service, each with the permissions a site gives
    it (kit.broker_users) on every vhost of the run it is used in."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.passwords: dict[str, str] = {}
        self.granted: set[tuple[str, str]] = set()

    def grant(self, vhost: str, services: list[str]) -> None:
        wanted = {
            user_name(USER_PREFIX, s): permissions(s)
            for s in services
            if (user_name(USER_PREFIX, s), vhost) not in self.granted
        }
        if not wanted:
            return
        new = {name: secrets.token_urlsafe(16) for name in wanted if name not in self.passwords}
        rabbit_env.add_users(vhost, wanted, new)
        self.passwords.update(new)
        self.granted.update((name, vhost) for name in wanted)

    def url(self, url: str, service: str) -> str:
        """`url` (a vhost of this run on the shared broker) logged in as the service."""
        given, base = urlsplit(url), urlsplit(self.base)
        if given.netloc.rsplit("@", 1)[-1] != base.netloc.rsplit("@", 1)[-1]:
            return url  # another broker (a private node of a fault test): its own users
        user = unquote(given.username or "")
        if user and user != base.username and not user.startswith(USER_PREFIX):
            return url  # a user the test chose (a site file's): kept
        self.grant(rabbit_env.vhost_of(url), [service])
        name = user_name(USER_PREFIX, service)
        return rabbit_env.with_credentials(url, name, self.passwords[name])

    def delete(self) -> None:
        rabbit_env.delete_users(self.passwords)


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


def base_url() -> str:
    return os.environ.get("KOHTAAMO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


USERS = ServiceUsers(base_url())


def producer_url(url: str, service: str) -> str:
    """`url`'s vhost, logged in as `service`'s user of this run."""
    return USERS.url(url, service)


@pytest.fixture(scope="session")
def service_users() -> Iterator[ServiceUsers]:
    try:
        yield USERS
    finally:
        USERS.delete()


# The buses `kit.testing.publish_as_producer` opened, by producer and URL (kept here, the
# run's state, so that kit.testing imports this module and not the other way round).
PRODUCER_BUSES: dict[tuple[str, str], Any] = {}


@pytest.fixture(scope="session", autouse=True)
async def _producer_buses() -> AsyncIterator[None]:
    """Closes the buses `kit.testing.publish_as_producer` opened."""
    yield
    for bus in PRODUCER_BUSES.values():
        await bus.stop()
    PRODUCER_BUSES.clear()


@pytest.fixture(scope="session")
def amqp_url(service_users: ServiceUsers) -> Iterator[str]:
    """The run's vhost, as the broker's administrator (guest): for tests that publish or
    inspect as an operator would. Services connect as their own users (`make_settings`)."""
    vhost = f"kohtaamo-test-{RUN_ID}"
    rabbit_env.create_vhost(vhost)
    try:
        # The platform's services in one CLI start; other names when first used.
        service_users.grant(vhost, list(topology.SERVICES))
        yield rabbit_env.with_vhost(base_url(), vhost)
    finally:
        if rabbit_env.delete_vhosts([vhost]):
            warnings.warn(f"vhost not deleted: {vhost}", stacklevel=1)


# Vhosts to delete when their owner ends: a test ("function") or its module ("module").
# A vhost holds every queue its services declared, and RabbitMQ budgets file handles for
# each queue (file_handle_cache; about 927 on a broker started with the usual limit of 1024
# open files): held until the session's end, the run's vhosts exhausted that budget and
# creating the next vhost waited forever for a handle.
_SCOPED: dict[str, list[str]] = {"function": [], "module": []}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the test's fixtures (and its module's, when the module ends) are torn down
    done, _SCOPED["function"] = _SCOPED["function"], []
    if nextitem is None or getattr(nextitem, "module", None) is not getattr(item, "module", None):
        done += _SCOPED["module"]
        _SCOPED["module"] = []
    left = rabbit_env.delete_vhosts(done)
    if left:  # the run's results stand; an operator deletes these later
        warnings.warn(f"vhosts not deleted: {left}", stacklevel=1)


@pytest.fixture(scope="session")
def make_vhost(amqp_url: str) -> Iterator[Callable[..., str]]:
    """Another virtual host of this run, for a whole platform of service processes: its
    consumers must not compete with other tests' services for the same queue names in the
    run's main vhost. Deleted at the end of its `scope`: "session" (default), "module" or
    "function" (the test that made it); the services using it must be stopped by then."""
    base = base_url()
    made: list[str] = []

    def make(name: str, scope: str = "session") -> str:
        vhost = f"kohtaamo-test-{RUN_ID}-{name}"
        rabbit_env.create_vhost(vhost)
        (made if scope == "session" else _SCOPED[scope]).append(vhost)
        return rabbit_env.with_vhost(base, vhost)

    try:
        yield make
    finally:
        left = rabbit_env.delete_vhosts(made + _SCOPED["function"] + _SCOPED["module"])
        if left:  # the run's results stand; an operator deletes these later
            warnings.warn(f"vhosts not deleted: {left}", stacklevel=1)


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
def make_settings(amqp_url: str, mongo_url: str, service_users: ServiceUsers) -> Callable[..., Any]:
    """Settings for a service under test: this run's vhost (as the service's own broker
    user; an `amqp_url` override of this run is turned into that user's too) and
    databases, fast retries."""

    def make(service: str, cls: type[KitSettings] = KitSettings, **overrides: Any) -> Any:
        url = overrides.pop("amqp_url", amqp_url)
        if hasattr(url, "get_secret_value"):
            url = url.get_secret_value()
        values: dict[str, Any] = {
            "service": service,
            "amqp_url": service_users.url(url, service),
            "broker_user_prefix": USER_PREFIX,
            "site": SITE,
            "event_signing_key": json.dumps(SITE_KEY),
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


@pytest.fixture
def recorded_spans(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Tracing on in this test's process, the spans kept in memory (an
    `InMemorySpanExporter`: `.get_finished_spans()`); the process's own state, off, comes
    back after the test. For a process exporting over OTLP, use kit.trace_receiver."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from kit import tracing
    from kit.spans import KitSpans

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("kit"))
    monkeypatch.setattr(tracing, "_spans", KitSpans(provider, processor, "kit"))
    monkeypatch.setattr(tracing, "enabled", True)
    return exporter
