"""City login end to end: identity's API and a real OpenID provider (oidc-provider on
Node.js, its own process) driven over HTTP as a browser would, code flow with PKCE, state
and nonce. Nothing of the provider is mocked."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import jwt
import pytest

from .city import (
    CLIENT_ID,
    CLIENT_SECRET,
    MIXUP_ISSUER,
    REDIRECT_URI,
    Browser,
    ProviderPorts,
    run_provider,
    serve_discovery,
    set_user,
)
from .conftest import Published, bearer

STRONG = {"loa": "substantial"}


def person(**claims: Any) -> tuple[str, dict[str, Any]]:
    sub = f"city-{uuid.uuid4().hex[:12]}"
    return sub, {
        "name": "Kaupunki Asukas",
        "email": f"{sub}@city.example",
        "email_verified": True,
        "locale": "sv-FI",
        **claims,
    }


async def start(
    client: httpx.AsyncClient, municipality: str = "helsinki", **body: Any
) -> dict[str, Any]:
    answer = await client.post(
        f"/auth/oidc/{municipality}/start", json={"accept_terms": True, **body}
    )
    assert answer.status_code == 200, answer.text
    started: dict[str, Any] = answer.json()
    return started


async def sign_in(
    client: httpx.AsyncClient,
    browser: Browser,
    base: str,
    sub: str,
    claims: dict[str, Any],
    municipality: str = "helsinki",
) -> httpx.Response:
    await set_user(base, sub, claims)
    begun = await start(client, municipality)
    landing = await browser.visit(begun["authorization_url"], login=sub)
    assert landing.state == begun["state"]
    return await client.post(
        "/auth/oidc/callback", json={"state": landing.state, "code": landing.code}
    )


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_the_first_sign_in_creates_the_account_the_second_signs_it_in(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str, published: Published
) -> None:
    sub, claims = person(birthdate="2009-03-01", **STRONG)
    first = await sign_in(client, browser, oidc_provider, sub, claims)
    assert first.status_code == 200, first.text
    out = first.json()
    assert out["created"] is True
    user = out["user"]
    assert user["email"] == claims["email"] and user["display_name"] == "Kaupunki Asukas"
    assert user["language"] == "sv" and user["email_verified"] is True
    assert user["city_login"] is True
    assert (user["birthdate"], user["birthdate_source"]) == ("2009-03-01", "verified")
    token = claims_of(out["tokens"]["access_token"])
    assert token["iss"] == "http://identity.test"  # Kohtaamo's own token, not the city's
    assert token["birthdate"] == "2009-03-01" and token["birthdate_source"] == "verified"
    await published.wait("kohtaamo.identity.user.registered.v1", user_id=user["id"])

    async with Browser() as elsewhere:
        again = await sign_in(client, elsewhere, oidc_provider, sub, claims)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False and again.json()["user"]["id"] == user["id"]

    # The person's own word does not replace what the city verified.
    mine = bearer(again.json()["tokens"]["access_token"])
    declared = await client.put("/me/birthdate", json={"birthdate": "2001-01-01"}, headers=mine)
    assert declared.status_code == 409 and declared.json()["errors"][0]["field"] == "birthdate"


async def test_without_strong_identification_the_birthdate_is_self_declared(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str
) -> None:
    sub, claims = person(birthdate="1990-05-05", loa="low")
    out = (await sign_in(client, browser, oidc_provider, sub, claims)).json()
    assert (out["user"]["birthdate"], out["user"]["birthdate_source"]) == (
        "1990-05-05",
        "self_declared",
    )
    assert claims_of(out["tokens"]["access_token"])["birthdate_source"] == "self_declared"


async def test_a_password_account_links_by_signing_in_with_both(
    client: httpx.AsyncClient,
    browser: Browser,
    oidc_provider: str,
    signup: Callable[..., Any],
) -> None:
    account = await signup()
    sub, claims = person(email=account["email"], birthdate="1985-12-24", **STRONG)
    await set_user(oidc_provider, sub, claims)

    # The same email at the city is not enough to take the account over.
    async with Browser() as elsewhere:
        alone = await sign_in(client, elsewhere, oidc_provider, sub, claims)
    assert alone.status_code == 409, alone.text
    assert alone.json()["type"].endswith("/city-login-link-needed")

    begun = await client.post("/auth/oidc/helsinki/link", headers=account["headers"])
    assert begun.status_code == 200, begun.text
    landing = await browser.visit(begun.json()["authorization_url"], login=sub)
    linked = await client.post(
        "/auth/oidc/callback", json={"state": landing.state, "code": landing.code}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == account["user"]["id"]
    assert linked.json()["user"]["birthdate_source"] == "verified"

    async with Browser() as elsewhere:
        later = await sign_in(client, elsewhere, oidc_provider, sub, claims)
    assert later.status_code == 200 and later.json()["user"]["id"] == account["user"]["id"]
    # The password still works too.
    login = await client.post(
        "/auth/login",
        json={
            "municipality": "helsinki",
            "email": account["email"],
            "password": "correct horse battery",
        },
    )
    assert login.status_code == 200, login.text

    # Another account cannot take the same city identity.
    other = await signup()
    begun = await client.post("/auth/oidc/helsinki/link", headers=other["headers"])
    async with Browser() as elsewhere:
        landing = await elsewhere.visit(begun.json()["authorization_url"], login=sub)
    taken = await client.post(
        "/auth/oidc/callback", json={"state": landing.state, "code": landing.code}
    )
    assert taken.status_code == 409 and taken.json()["type"].endswith("/city-identity-linked")


async def test_wrong_state_wrong_nonce_and_replayed_codes_are_refused(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str
) -> None:
    sub, claims = person()
    await set_user(oidc_provider, sub, claims)

    begun = await start(client)
    landing = await browser.visit(begun["authorization_url"], login=sub)
    wrong = await client.post(
        "/auth/oidc/callback", json={"state": "not-" + landing.state, "code": landing.code}
    )
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "state"

    # The nonce sent to the provider is not the one this sign-in kept: the ID token that
    # comes back answers another sign-in.
    begun = await start(client)
    parts = urlsplit(begun["authorization_url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["nonce"] = "someone-elses-nonce"
    tampered = urlunsplit(parts._replace(query=urlencode(query)))
    landing = await browser.visit(tampered)
    refused = await client.post(
        "/auth/oidc/callback", json={"state": landing.state, "code": landing.code}
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["errors"][0]["field"] == "nonce"
    assert refused.json()["type"].endswith("/city-login-refused")

    begun = await start(client)
    landing = await browser.visit(begun["authorization_url"])
    body = {"state": landing.state, "code": landing.code}
    assert (await client.post("/auth/oidc/callback", json=body)).status_code == 200
    replay = await client.post("/auth/oidc/callback", json=body)
    assert replay.status_code == 400 and replay.json()["errors"][0]["field"] == "state"
    # The spent code with a fresh sign-in of its own: the provider refuses it.
    fresh = await start(client)
    stolen = await client.post(
        "/auth/oidc/callback", json={"state": fresh["state"], "code": landing.code}
    )
    assert stolen.status_code == 401, stolen.text
    assert stolen.json()["errors"][0]["field"] == "code"


async def test_a_municipality_without_a_provider_and_bad_bodies(
    client: httpx.AsyncClient,
) -> None:
    none = await client.post("/auth/oidc/kouvola/start", json={})
    assert none.status_code == 404 and none.json()["errors"][0]["field"] == "municipality"
    listed = (await client.get("/auth/oidc/providers")).json()["items"]
    assert {
        "municipality": "helsinki",
        "label": {"fi": "Helsinki-tunnus", "en": "Helsinki ID"},
    } in listed
    assert all(p["municipality"] != "kouvola" for p in listed)
    for bad in (
        {},
        {"state": "x"},
        {"state": "x", "code": "c" * 5000},
        {"state": "x", "code": "y", "extra": 1},
    ):
        answer = await client.post("/auth/oidc/callback", json=bad)
        assert answer.status_code == 422, (bad, answer.text)


async def test_new_accounts_need_the_terms_and_an_email(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str
) -> None:
    sub, claims = person()
    await set_user(oidc_provider, sub, claims)
    begun = await start(client, accept_terms=False)
    landing = await browser.visit(begun["authorization_url"], login=sub)
    answer = await client.post(
        "/auth/oidc/callback", json={"state": landing.state, "code": landing.code}
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "accept_terms"


async def test_a_city_sign_in_without_an_email_asks_for_one(
    client: httpx.AsyncClient, oidc_provider: str, published: Published
) -> None:
    sub, claims = person()
    del claims["email"], claims["email_verified"]
    async with Browser() as elsewhere:
        answer = await sign_in(client, elsewhere, oidc_provider, sub, claims)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["errors"][0]["field"] == "email"
        assert problem["type"].endswith("/city-login-email-needed")
        # The person gives their address and signs in again (the provider's session holds).
        given = f"{sub}@home.example"
        begun = await start(client, email=given.upper())
        landing = await elsewhere.visit(begun["authorization_url"], login=sub)
        done = await client.post(
            "/auth/oidc/callback", json={"state": landing.state, "code": landing.code}
        )
    assert done.status_code == 200, done.text
    out = done.json()
    assert out["created"] is True
    assert (out["user"]["email"], out["user"]["email_verified"]) == (given, False)
    # Unverified until the link mailed to it is opened.
    await published.wait(
        "kohtaamo.identity.account.link_issued.v1",
        user_id=out["user"]["id"],
        purpose="verify_email",
    )
    # A malformed address is refused when the sign-in starts, naming the field.
    bad = await client.post("/auth/oidc/helsinki/start", json={"accept_terms": True, "email": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"


async def test_logout_ends_the_session_here_and_at_the_provider(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str, signup: Callable[..., Any]
) -> None:
    sub, claims = person()
    out = (await sign_in(client, browser, oidc_provider, sub, claims)).json()
    assert browser.pages == ["login", "consent"]
    refresh = out["tokens"]["refresh_token"]
    ended = await client.post("/auth/oidc/logout", json={"refresh_token": refresh})
    assert ended.status_code == 200, ended.text
    url = ended.json()["end_session_url"]
    assert url.startswith(oidc_provider)
    assert "id_token_hint" in parse_qs(urlsplit(url).query)
    assert (await client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 401

    back = await browser.log_out(url)
    assert back.startswith("http://ui.test/app/")
    # The provider's session ended too: the next sign-in asks for the login again.
    browser.pages.clear()
    again = await sign_in(client, browser, oidc_provider, sub, claims)
    assert again.status_code == 200 and browser.pages[0] == "login"

    # A password session or an unknown one has nothing to end at a provider.
    password = await signup()
    ended = await client.post(
        "/auth/oidc/logout", json={"refresh_token": password["tokens"]["refresh_token"]}
    )
    assert ended.status_code == 200 and ended.json()["end_session_url"] is None
    renew = {"refresh_token": password["tokens"]["refresh_token"]}
    assert (await client.post("/auth/refresh", json=renew)).status_code == 401
    assert (await client.post("/auth/oidc/logout", json={"refresh_token": "x.y"})).json() == {
        "end_session_url": None
    }


@pytest.fixture(scope="module")
async def late_provider(provider_ports: ProviderPorts) -> AsyncIterator[str]:
    """A provider whose clock runs two hours behind: its ID tokens expired an hour ago."""
    async with run_provider(provider_ports.late, clock_offset_s=-7200) as base:
        yield base


@pytest.fixture(scope="module")
async def other_provider(provider_ports: ProviderPorts) -> AsyncIterator[str]:
    """Where oidc-other's provider is configured to be, but the issuer answering there is
    another one."""
    async with run_provider(provider_ports.other, issuer="https://other-issuer.example") as base:
        yield base


async def test_an_expired_id_token_is_refused(
    client: httpx.AsyncClient, browser: Browser, late_provider: str
) -> None:
    sub, claims = person()
    answer = await sign_in(client, browser, late_provider, sub, claims, municipality="oidc-late")
    assert answer.status_code == 401, answer.text
    assert answer.json()["errors"][0]["field"] == "id_token"
    assert "expired" in answer.json()["detail"]


async def test_tokens_of_another_issuer_are_refused(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str, other_provider: str
) -> None:
    answer = await client.post("/auth/oidc/oidc-other/start", json={})
    assert answer.status_code == 502, answer.text
    assert "https://other-issuer.example" in answer.json()["detail"]

    # The city's own ID token, got by a client of its own, is no Kohtaamo token.
    sub, claims = person()
    await set_user(oidc_provider, sub, claims)
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(oidc_provider + "/.well-known/openid-configuration")).json()
        query = {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            "state": "s" * 20,
            "nonce": "n" * 20,
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        }
        landing = await browser.visit(
            metadata["authorization_endpoint"] + "?" + urlencode(query), login=sub
        )
        tokens = await http.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": landing.code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert tokens.status_code == 200, tokens.text
    refused = await client.get("/me", headers=bearer(tokens.json()["id_token"]))
    assert refused.status_code == 401, refused.text


async def test_an_id_token_of_another_issuer_is_refused_on_the_callback(
    client: httpx.AsyncClient,
    browser: Browser,
    oidc_provider: str,
    provider_ports: ProviderPorts,
    svc: Any,
) -> None:
    """oidc-mixup is configured for MIXUP_ISSUER; its discovery document names that issuer
    but the city provider's endpoints and keys, so the code is exchanged there and the ID
    token, rightly signed, names the city as its issuer: refused on the callback."""
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(oidc_provider + "/.well-known/openid-configuration")).json()
    with serve_discovery(provider_ports.mixup, {**metadata, "issuer": MIXUP_ISSUER}):
        sub, claims = person()
        answer = await sign_in(client, browser, oidc_provider, sub, claims, "oidc-mixup")
    assert answer.status_code == 401, answer.text
    problem = answer.json()
    assert problem["errors"][0]["field"] == "id_token"
    assert problem["type"].endswith("/city-login-refused")
    assert "another issuer" in problem["detail"]
    assert await svc.store.db.users.find_one({"email": claims["email"]}) is None
    assert await svc.store.db.external_identities.find_one({"subject": sub}) is None


async def test_an_erased_city_account_forgets_its_link(
    client: httpx.AsyncClient,
    browser: Browser,
    oidc_provider: str,
    staff_user: Callable[..., Any],
    ctx: Any,
) -> None:
    sub, claims = person(birthdate="2000-01-01", **STRONG)
    first = (await sign_in(client, browser, oidc_provider, sub, claims)).json()
    uid = first["user"]["id"]
    export = await client.get("/me/export", headers=bearer(first["tokens"]["access_token"]))
    assert [c["subject"] for c in export.json()["city_logins"]] == [sub]
    admin = await staff_user(["admin"])
    erased = await client.post(
        f"/municipalities/helsinki/users/{uid}/erase", headers=admin["headers"]
    )
    assert erased.status_code in (200, 202), erased.text
    assert await ctx.db.external_identities.count_documents({"user_id": uid}) == 0
    async with Browser() as elsewhere:
        again = await sign_in(client, elsewhere, oidc_provider, sub, claims)
    assert again.status_code == 200 and again.json()["created"] is True
    assert again.json()["user"]["id"] != uid


async def test_a_city_account_erases_itself_right_after_signing_in(
    client: httpx.AsyncClient, browser: Browser, oidc_provider: str, ctx: Any
) -> None:
    sub, claims = person()
    out = (await sign_in(client, browser, oidc_provider, sub, claims)).json()
    mine = bearer(out["tokens"]["access_token"])
    # No password to confirm with, and none guessed: a fresh sign-in is the confirmation.
    # A sign-in older than the setting allows is refused (the setting made 0 s long).
    ctx.settings.recent_sign_in_s = -1
    try:
        stale = await client.post("/me/erase", json={"password": "x"}, headers=mine)
    finally:
        ctx.settings.recent_sign_in_s = 300
    assert stale.status_code == 403 and stale.json()["errors"][0]["field"] == "password"
    erased = await client.post("/me/erase", json={"password": "anything at all"}, headers=mine)
    assert erased.status_code == 200, erased.text
    assert await ctx.db.external_identities.count_documents({"subject": sub}) == 0
