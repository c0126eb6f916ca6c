"""Sign-up, login, refresh rotation with reuse detection, logout, password change and the
login rate limit, over HTTP against the real store and broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from kit.testing import eventually

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
        # Fields a sign-up does not take are refused, not ignored.
        ({"roles": ["admin"]}, 422, "roles"),
        ({"is_admin": True}, 422, "is_admin"),
        ({"display_name": "x" * 121}, 422, "display_name"),
    ]
    for change, status, field in cases:
        response = await client.post("/auth/signup", json={**good, **change})
        assert response.status_code == status, (change, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()

    misspelt = await client.post("/auth/signup", json={**good, "langauge": "sv"})
    [error] = misspelt.json()["errors"]
    assert error["field"] == "langauge" and error["did_you_mean"] == "language"

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

    # The access token from sign-up, usually issued within the same second as the change
    # (tokens carry whole seconds), ends too; a login after the answer gets a working one.
    async def old_token_refused() -> bool:
        return (await client.get("/me", headers=out["headers"])).status_code == 401

    await eventually(old_token_refused, timeout=30)
    login = {"municipality": "helsinki", "email": out["email"], "password": new}
    fresh = (await client.post("/auth/login", json=login)).json()["access_token"]
    me = await client.get("/me", headers={"Authorization": f"Bearer {fresh}"})
    assert me.status_code == 200
    login = {"municipality": "helsinki", "email": out["email"]}
    old = await client.post("/auth/login", json={**login, "password": PASSWORD})
    assert old.status_code == 401
    assert (await client.post("/auth/login", json={**login, "password": new})).status_code == 200
    unauthenticated = await client.put(
        "/me/password", json={"current_password": new, "new_password": PASSWORD}
    )
    assert unauthenticated.status_code == 401


async def test_login_rate_limit_per_account_from_anywhere_with_backoff(
    app: Any, signup: Callable[..., Any], ctx: Any
) -> None:
    out = await signup()
    login = {"municipality": "helsinki", "email": out["email"]}
    # Each attempt from its own address, so only the account's count can trip.
    for n in range(6):
        async with from_address(app, f"198.51.100.{n + 1}") as client:
            wrong = await client.post(
                "/auth/login", json={**login, "password": f"wrong-{n}-password"}
            )
            assert wrong.status_code == 401
    async with from_address(app, "198.51.100.99") as client:
        limited = await client.post("/auth/login", json={**login, "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 0 < int(limited.headers["Retry-After"]) <= ctx.settings.login_window_s
    # The count lives in the store: every replica sees it.
    key = f"account:helsinki:{out['email']}"
    stored = await ctx.db.login_failures.find_one({"_id": key})
    assert stored["count"] == 6

    # The window ends; a guesser who fills the next one waits twice as long.
    await ctx.db.login_failures.update_one(
        {"_id": key}, {"$set": {"window_end": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    for n in range(6):
        async with from_address(app, f"198.51.101.{n + 1}") as client:
            wrong = await client.post("/auth/login", json={**login, "password": f"again-{n}-x"})
            assert wrong.status_code == 401
    async with from_address(app, "198.51.101.99") as client:
        limited = await client.post("/auth/login", json={**login, "password": PASSWORD})
    assert limited.status_code == 429
    window = ctx.settings.login_window_s
    assert window < int(limited.headers["Retry-After"]) <= 2 * window
    assert (await ctx.db.login_failures.find_one({"_id": key}))["window_s"] == 2 * window


async def test_login_limit_per_address_and_account_leaves_the_owner_elsewhere_in(
    app: Any, signup: Callable[..., Any]
) -> None:
    out = await signup()
    login = {"municipality": "helsinki", "email": out["email"]}
    async with from_address(app, "192.0.2.10") as guesser:
        for n in range(3):
            wrong = await guesser.post("/auth/login", json={**login, "password": f"guess-{n}-xx"})
            assert wrong.status_code == 401
        assert (
            await guesser.post("/auth/login", json={**login, "password": PASSWORD})
        ).status_code == 429
    async with from_address(app, "192.0.2.11") as owner:
        assert (
            await owner.post("/auth/login", json={**login, "password": PASSWORD})
        ).status_code == 200


async def test_a_shared_address_is_not_locked_out_by_a_few_failures(
    app: Any, signup: Callable[..., Any]
) -> None:
    """A library's public network: one address for everyone. Typos of many people must not
    stop the next person; only a much higher ceiling applies to the address."""
    library = "203.0.113.9"
    async with from_address(app, library) as client:
        for n in range(8):
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
        good = {"municipality": "helsinki", "email": out["email"], "password": PASSWORD}
        # Successes do not use up the address's ceiling.
        for _ in range(5):
            assert (await client.post("/auth/login", json=good)).status_code == 200
        for n in range(8, 12):
            wrong = await client.post(
                "/auth/login",
                json={
                    "municipality": "helsinki",
                    "email": f"nobody-{n}@example.fi",
                    "password": "x",
                },
            )
            assert wrong.status_code == 401
        # Spraying passwords across many accounts from one address meets the ceiling.
        blocked = await client.post("/auth/login", json=good)
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


async def test_concurrent_wrong_logins_are_limited(app: Any, signup: Callable[..., Any]) -> None:
    """The attempt is counted before the password is checked: concurrent guesses cannot all
    pass a check made before any of them failed."""
    out = await signup()
    login = {"municipality": "helsinki", "email": out["email"]}

    async def guess(n: int) -> int:
        async with from_address(app, f"198.18.0.{n + 1}") as client:
            wrong = await client.post("/auth/login", json={**login, "password": f"wrong-{n}-pw"})
            return wrong.status_code

    codes = await asyncio.gather(*(guess(n) for n in range(20)))
    assert sorted(codes) == [401] * 6 + [429] * 14

    async def guess_here(client: httpx.AsyncClient, n: int) -> int:
        wrong = await client.post("/auth/login", json={**login, "password": f"here-{n}-pw"})
        return wrong.status_code

    other = await signup()
    login = {"municipality": "helsinki", "email": other["email"]}
    async with from_address(app, "198.18.1.1") as client:
        codes = await asyncio.gather(*(guess_here(client, n) for n in range(12)))
    assert sorted(codes) == [401] * 3 + [429] * 9


async def test_unknown_and_known_accounts_cost_the_same_argon2_check(
    client: httpx.AsyncClient, signup: Callable[..., Any], ctx: Any, monkeypatch: Any
) -> None:
    """Response time must not tell who has an account: an unknown email is verified against
    a dummy hash, so both cost one Argon2 verification."""
    out = await signup()
    verified: list[str | None] = []
    real = ctx.passwords.verify

    def counting(hashed: str | None, password: str) -> bool:
        verified.append(hashed)
        answer: bool = real(hashed, password)
        return answer

    monkeypatch.setattr(ctx.passwords, "verify", counting)
    known = {"municipality": "helsinki", "email": out["email"], "password": "wrong password!"}
    unknown = {**known, "email": f"nobody-{uuid.uuid4().hex[:8]}@example.fi"}
    assert (await client.post("/auth/login", json=known)).status_code == 401
    assert (await client.post("/auth/login", json=unknown)).status_code == 401
    assert len(verified) == 2 and verified[1] is None


async def test_password_reconfirmations_are_limited_like_logins(
    app: Any, signup: Callable[..., Any]
) -> None:
    out = await signup()
    async with from_address(app, "192.0.2.40") as client:
        for n in range(3):
            wrong = await client.put(
                "/me/password",
                json={
                    "current_password": f"not-it-{n}-at-all",
                    "new_password": "another passphrase",
                },
                headers=out["headers"],
            )
            assert wrong.status_code == 403
        limited = await client.put(
            "/me/password",
            json={"current_password": PASSWORD, "new_password": "another passphrase"},
            headers=out["headers"],
        )
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0

    other = await signup()
    async with from_address(app, "192.0.2.41") as client:
        for n in range(3):
            wrong = await client.post(
                "/me/erase", json={"password": f"not-it-{n}-at-all"}, headers=other["headers"]
            )
            assert wrong.status_code == 403
        limited = await client.post(
            "/me/erase", json={"password": PASSWORD}, headers=other["headers"]
        )
        assert limited.status_code == 429
        assert (await client.get("/me", headers=other["headers"])).status_code == 200


async def test_concurrent_refresh_leaves_no_survivor(
    client: httpx.AsyncClient, signup: Callable[..., Any], ctx: Any
) -> None:
    """Two uses of one refresh token at once: one may win the rotation, but the other use is a
    replay, so the family ends, including the winner's new token, in every interleaving."""
    out = await signup()
    user = await ctx.db.users.find_one({"_id": out["user"]["id"]})
    for _ in range(25):
        token = (await ctx.sessions.start(user)).refresh_token
        answers = await asyncio.gather(
            *(client.post("/auth/refresh", json={"refresh_token": token}) for _ in range(2))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes in ([200, 401], [401, 401]), codes
        for answer in answers:
            if answer.status_code == 200:
                again = await client.post(
                    "/auth/refresh", json={"refresh_token": answer.json()["refresh_token"]}
                )
                assert again.status_code == 401, "the winner's new token survived the replay"


def from_address(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://identity.test")
