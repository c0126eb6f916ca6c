"""Login limits kept in a real Redis shared by two identity replicas (one database, one
Redis): guesses spread over both count against one limit, the backoff doubles there, an
erasure removes the account's counters, and an unreachable Redis hands counting to the
database instead of letting guesses through."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from identity import municipality
from identity.core import Identity, identity_of
from identity.main import service
from identity.municipality import MunicipalityIn
from identity.ratelimit import account_key
from identity.settings import IdentitySettings
from identity.throttle_redis import RedisCounters
from kit.app import Service

PASSWORD = "correct horse battery"


async def _start(settings: IdentitySettings) -> Service[IdentitySettings]:
    svc = service(settings)
    svc.app = svc.create_app()  # type: ignore[attr-defined]  # set as the CLI does
    await svc.start()
    return svc


@pytest.fixture(scope="module")
async def replicas(
    make_identity_settings: Callable[..., IdentitySettings], redis_url: str, redis_prefix: str
) -> AsyncIterator[list[Service[IdentitySettings]]]:
    shared = {
        "mongo_db_prefix": f"throttle{uuid.uuid4().hex[:6]}_",
        "login_throttle_storage": redis_url,
        "login_throttle_prefix": f"{redis_prefix}-{uuid.uuid4().hex[:6]}",
    }
    first = await _start(make_identity_settings(**shared))
    second = await _start(make_identity_settings(**shared))
    ctx = identity_of(first)
    await municipality.ensure(ctx, MunicipalityIn(slug="helsinki", name={"fi": "Helsinki"}))
    yield [first, second]
    await second.stop()
    await first.stop()


def _client(svc: Service[IdentitySettings], address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=svc.app, client=(address, 40000))  # type: ignore[attr-defined]  # set in _start
    return httpx.AsyncClient(transport=transport, base_url="http://identity.test")


async def _signup(svc: Service[IdentitySettings]) -> str:
    email = f"user-{uuid.uuid4().hex[:10]}@example.fi"
    async with _client(svc, "192.0.2.200") as client:
        made = await client.post(
            "/auth/signup",
            json={
                "municipality": "helsinki",
                "email": email,
                "password": PASSWORD,
                "display_name": "Testi",
                "accept_terms": True,
            },
        )
    assert made.status_code == 201, made.text
    return email


def _redis(ctx: Identity) -> RedisCounters:
    assert ctx.throttle.redis is not None
    return ctx.throttle.redis


async def test_two_replicas_share_one_account_limit_in_redis(
    replicas: list[Service[IdentitySettings]],
) -> None:
    email = await _signup(replicas[0])
    login = {"municipality": "helsinki", "email": email}

    async def guess(n: int) -> int:
        # Every guess from its own address, alternating replicas: only the account counts.
        async with _client(replicas[n % 2], f"198.51.100.{n + 1}") as client:
            wrong = await client.post("/auth/login", json={**login, "password": f"wrong-{n}-pw"})
            return wrong.status_code

    codes = await asyncio.gather(*(guess(n) for n in range(16)))
    limit = replicas[0].settings.login_max_failures_per_account
    assert sorted(codes) == [401] * limit + [429] * (16 - limit)

    ctx = identity_of(replicas[1])
    key = account_key("helsinki", email)
    counted = await _redis(ctx).count(key)
    assert counted is not None and counted["count"] == limit
    # Kept in Redis, not in the database.
    assert await ctx.db.login_failures.find_one({"_id": key}) is None
    async with _client(replicas[1], "198.51.100.99") as client:
        refused = await client.post("/auth/login", json={**login, "password": PASSWORD})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= ctx.settings.login_window_s


async def test_the_account_window_doubles_in_redis_and_a_success_resets_it(
    replicas: list[Service[IdentitySettings]],
) -> None:
    email = await _signup(replicas[0])
    ctx = identity_of(replicas[0])
    counters = _redis(ctx)
    key = account_key("helsinki", email)
    limit = ctx.settings.login_max_failures_per_account
    window = ctx.settings.login_window_s
    common = {"account": key, "kind": "account", "limit": limit, "max_window_s": 10 * window}
    for _ in range(limit):
        assert await counters.take(key, window_s=window, **common) is None
    assert await counters.take(key, window_s=window, **common) is not None
    # The window ends (made to end now): the next one is twice as long.
    await counters.redis.hset(counters.prefix + key, "window_end", 0)
    assert await counters.take(key, window_s=window, **common) is None
    state = await counters.count(key)
    assert state is not None and state["window_s"] == 2 * window and state["count"] == 1
    assert 0 < await counters.redis.ttl(counters.prefix + key) <= 2 * window + 10 * window

    # The owner signs in: their counters start over.
    async with _client(replicas[1], "203.0.113.5") as client:
        ok = await client.post(
            "/auth/login", json={"municipality": "helsinki", "email": email, "password": PASSWORD}
        )
    assert ok.status_code == 200
    assert await counters.count(key) is None


async def test_erasure_removes_the_account_and_pair_counters_from_redis(
    replicas: list[Service[IdentitySettings]],
) -> None:
    email = await _signup(replicas[0])
    login = {"municipality": "helsinki", "email": email, "password": "not-the-password"}
    for n in range(2):
        async with _client(replicas[n], f"192.0.2.{n + 30}") as client:
            assert (await client.post("/auth/login", json=login)).status_code == 401
    ctx = identity_of(replicas[0])
    counters = _redis(ctx)
    mine = [k async for k in counters.redis.scan_iter(match=f"{counters.prefix}*{email}*")]
    assert len(mine) == 4  # the account, two (address, account) pairs, and their index
    await ctx.throttle.forget_account(account_key("helsinki", email))
    assert [k async for k in counters.redis.scan_iter(match=f"{counters.prefix}*{email}*")] == []


async def test_an_unreachable_redis_hands_counting_to_the_database(
    make_identity_settings: Callable[..., IdentitySettings],
) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    svc = await _start(
        make_identity_settings(
            login_throttle_storage="redis://127.0.0.1:1/0", login_throttle_timeout_s=0.2
        )
    )
    try:
        ctx = identity_of(svc)
        await municipality.ensure(ctx, MunicipalityIn(slug="helsinki", name={"fi": "Helsinki"}))
        email = await _signup(svc)
        login = {"municipality": "helsinki", "email": email}
        codes = []
        async with _client(svc, "198.18.5.5") as client:
            for n in range(5):
                wrong = await client.post("/auth/login", json={**login, "password": f"x-{n}-pw"})
                codes.append(wrong.status_code)
        pair_limit = ctx.settings.login_max_failures_per_address_account
        assert codes == [401] * pair_limit + [429] * (5 - pair_limit)
        stored = await ctx.db.login_failures.find_one({"_id": account_key("helsinki", email)})
        assert stored is not None and stored["count"] == pair_limit
    finally:
        await svc.stop()
