"""Rate limits at the edge: per client address, per user, stricter on sign-up and login;
429 problem+json with Retry-After."""

from __future__ import annotations

from typing import Any

from kit.testing import TestIssuer


async def test_per_address_limit(make_gateway: Any, echoes: dict[str, Any]) -> None:
    async with make_gateway({"events": echoes["events"].url}, rate_limit_client="3/minute") as (
        client,
        _,
    ):
        for _ in range(3):
            assert (await client.get("/api/v1/events")).status_code == 200
        before = echoes["events"].hits()
        limited = await client.get("/api/v1/events")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        body = limited.json()
        assert body["type"].endswith("/rate-limited") and body["scope"] == "client address"
        assert echoes["events"].hits() == before
        # Operations endpoints are outside the API limits.
        assert (await client.get("/readyz")).status_code == 200


async def test_login_and_signup_are_stricter(make_gateway: Any, echoes: dict[str, Any]) -> None:
    async with make_gateway(
        {"identity": echoes["identity"].url, "events": echoes["events"].url},
        rate_limit_client="100/minute",
        rate_limit_auth="2/minute",
    ) as (client, _):
        for _ in range(2):
            answer = await client.post("/api/v1/auth/login", json={"email": "a@b.fi"})
            assert answer.status_code == 201
        refused = await client.post("/api/v1/auth/login", json={"email": "a@b.fi"})
        assert refused.status_code == 429
        assert "sign-up and login" in refused.json()["scope"]
        assert (await client.post("/api/v1/auth/signup", json={})).status_code == 429
        # Other calls from the same address still go through.
        assert (await client.get("/api/v1/events")).status_code == 200
        assert (await client.post("/api/v1/auth/logout")).status_code == 201


async def test_per_user_limit_counts_each_user(
    make_gateway: Any, echoes: dict[str, Any], issuer: TestIssuer
) -> None:
    async with make_gateway(
        {"events": echoes["events"].url},
        rate_limit_client="100/minute",
        rate_limit_user="2/minute",
    ) as (client, _):
        alice = issuer.headers(sub="alice")
        bob = issuer.headers(sub="bob")
        for _ in range(2):
            assert (await client.get("/api/v1/events", headers=alice)).status_code == 200
        limited = await client.get("/api/v1/events", headers=alice)
        assert limited.status_code == 429 and limited.json()["scope"] == "user"
        # A fresh token does not reset it: the limit is on the user, not the token.
        again = await client.get("/api/v1/events", headers=issuer.headers(sub="alice"))
        assert again.status_code == 429
        assert (await client.get("/api/v1/events", headers=bob)).status_code == 200


async def test_forwarded_address_only_from_trusted_proxy(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    url = {"events": echoes["events"].url}
    async with make_gateway(url, rate_limit_client="1/minute", trusted_proxies=["127.0.0.1"]) as (
        client,
        _,
    ):
        first = await client.get("/api/v1/events", headers={"X-Forwarded-For": "203.0.113.7"})
        assert first.status_code == 200
        assert first.json()["headers"]["x-forwarded-for"] == "203.0.113.7"
        other = await client.get("/api/v1/events", headers={"X-Forwarded-For": "203.0.113.8"})
        assert other.status_code == 200  # a different client behind the proxy
        same = await client.get("/api/v1/events", headers={"X-Forwarded-For": "203.0.113.7"})
        assert same.status_code == 429
    async with make_gateway(url, rate_limit_client="1/minute") as (client, _):
        # Without a trusted proxy the header is ignored: changing it does not evade limits.
        assert (
            await client.get("/api/v1/events", headers={"X-Forwarded-For": "1.1.1.1"})
        ).status_code == 200
        assert (
            await client.get("/api/v1/events", headers={"X-Forwarded-For": "2.2.2.2"})
        ).status_code == 429
