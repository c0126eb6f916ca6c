"""Sign-up, login, refresh rotation with reuse detection, logout, password change and the
login rate limit, over HTTP against the real store and broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt

PASSWORD = "correct horse battery"


async def test_sign_up_publishes_registration_contact_and_terms_consent(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any
) -> None:
    out = await signup(language="sv", phone="+358 40 123 4567")
    user = out["user"]
    assert user["roles"] == ["resident"] and user["municipality"] == "helsinki"
    assert out["tokens"]["token_type"] == "Bearer" and out["tokens"]["expires_in"] == 900

    [registered] = await published.wait("kohtaamo.identity.user.registered.v1", user_id=user["id"])
    assert registered["municipality"] == "helsinki"
    assert registered["data"]["preferred_language"] == "sv"
    assert "email" not in registered["data"]  # contact data travels only in contact.changed
    [contact] = await published.wait("kohtaamo.identity.contact.changed.v1", user_id=user["id"])
    assert contact["data"]["email"] == out["email"]
    assert contact["data"]["phone"] == "+358 40 123 4567"
    assert contact["data"]["language"] == "sv"
    [terms] = await published.wait("kohtaamo.identity.consent.changed.v1", user_id=user["id"])
    assert terms["data"]["purpose"] == "terms" and terms["data"]["granted"] is True

    me = await client.get("/me", headers=out["headers"])
    assert me.status_code == 200 and me.json()["email"] == out["email"]


async def test_sign_up_bad_input_names_the_field(
    client: httpx.AsyncClient, signup: Callable[..., Any], email: str
) -> None:
    good = {
        "municipality": "helsinki",
        "email": email,
        "password": PASSWORD,
        "display_name": "Maija",
        "accept_terms": True,
    }
    cases = [
        ({"email": "not-an-email"}, 422, "email"),
        ({"password": "short"}, 422, "password"),
        ({"accept_terms": False}, 422, "accept_terms"),
        ({"municipality": "atlantis"}, 422, "municipality"),
        ({"language": "Finnish!"}, 422, "language"),
        ({"display_name": ""}, 422, "display_name"),
    ]
    for change, status, field in cases:
        response = await client.post("/auth/signup", json={**good, **change})
        assert response.status_code == status, (change, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()

    first = await signup(email=email.upper())
    assert first["user"]["email"] == email  # stored lower case
    again = await client.post("/auth/signup", json=good)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "email"
    # The same email may have an account in another municipality.
    other = await client.post("/auth/signup", json={**good, "municipality": "kouvola"})
    assert other.status_code == 201


async def test_login_token_claims_and_wrong_password(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    login = {"municipality": "helsinki", "email": out["email"], "password": PASSWORD}
    response = await client.post("/auth/login", json=login)
    assert response.status_code == 200
    token = response.json()["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"]
    assert claims["iss"] == "http://identity.test" and claims["aud"] == "kohtaamo"
    assert claims["sub"] == out["user"]["id"] and claims["municipality"] == "helsinki"
    assert claims["roles"] == ["resident"] and claims["exp"] - claims["iat"] == 900

    wrong = await client.post("/auth/login", json={**login, "password": "wrong password!"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    elsewhere = await client.post("/auth/login", json={**login, "municipality": "kouvola"})
    assert elsewhere.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    first = out["tokens"]["refresh_token"]
    rotated = await client.post("/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    me = await client.get(
        "/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"}
    )
    assert me.status_code == 200

    # The spent token comes back: someone copied it. The whole family ends.
    replay = await client.post("/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401
    assert replay.json()["errors"][0]["field"] == "refresh_token"
    assert "already used" in replay.json()["detail"]
    after = await client.post("/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401

    garbage = await client.post("/auth/refresh", json={"refresh_token": "nonsense"})
    assert garbage.status_code == 401
    missing = await client.post("/auth/refresh", json={})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "refresh_token"


async def test_logout_ends_only_that_session(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    login = {"municipality": "helsinki", "email": out["email"], "password": PASSWORD}
    other = (await client.post("/auth/login", json=login)).json()["refresh_token"]
    mine = out["tokens"]["refresh_token"]
    assert (await client.post("/auth/logout", json={"refresh_token": mine})).status_code == 204
    assert (await client.post("/auth/refresh", json={"refresh_token": mine})).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": other})).status_code == 200


async def test_password_change_ends_sessions_and_checks_the_old_password(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    out = await signup()
    new = "a much better passphrase"
    wrong = await client.put(
        "/me/password",
        json={"current_password": "not it at all", "new_password": new},
        headers=out["headers"],
    )
    assert wrong.status_code == 403 and wrong.json()["errors"][0]["field"] == "current_password"
    weak = await client.put(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=out["headers"],
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    changed = await client.put(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": new},
        headers=out["headers"],
    )
    assert changed.status_code == 204
    refresh = await client.post(
        "/auth/refresh", json={"refresh_token": out["tokens"]["refresh_token"]}
    )
    assert refresh.status_code == 401
    login = {"municipality": "helsinki", "email": out["email"]}
    old = await client.post("/auth/login", json={**login, "password": PASSWORD})
    assert old.status_code == 401
    assert (await client.post("/auth/login", json={**login, "password": new})).status_code == 200
    unauthenticated = await client.put(
        "/me/password", json={"current_password": new, "new_password": PASSWORD}
    )
    assert unauthenticated.status_code == 401


async def test_login_rate_limit_per_account(svc: Any, signup: Callable[..., Any], ctx: Any) -> None:
    out = await signup()
    login = {"municipality": "helsinki", "email": out["email"]}
    # Each attempt from its own address, so only the account's count can trip.
    for n in range(3):
        async with from_address(svc, f"198.51.100.{n + 1}") as client:
            wrong = await client.post(
                "/auth/login", json={**login, "password": f"wrong-{n}-password"}
            )
            assert wrong.status_code == 401
    async with from_address(svc, "198.51.100.99") as client:
        limited = await client.post("/auth/login", json={**login, "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 0 < int(limited.headers["Retry-After"]) <= ctx.settings.login_window_s
    # The count lives in the store: every replica sees it.
    stored = await ctx.db.login_failures.find_one({"_id": f"account:helsinki:{out['email']}"})
    assert stored["count"] == 3


async def test_login_rate_limit_per_client_address(svc: Any, signup: Callable[..., Any]) -> None:
    async with from_address(svc, "203.0.113.9") as client:
        # Different accounts, one address: spraying passwords across accounts is caught.
        for n in range(6):
            wrong = await client.post(
                "/auth/login",
                json={
                    "municipality": "helsinki",
                    "email": f"nobody-{n}@example.fi",
                    "password": "guessing-1234",
                },
            )
            assert wrong.status_code == 401
        out = await signup()
        blocked = await client.post(
            "/auth/login",
            json={"municipality": "helsinki", "email": out["email"], "password": PASSWORD},
        )
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def from_address(svc: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=svc.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://identity.test")
