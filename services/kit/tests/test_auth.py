"""Token verification: JWKS fetched and cached, refreshed on an unknown key id, expired,
tampered and untrusted tokens refused, and the FastAPI role check."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from kit.auth import Auth, InvalidToken, Principal, TokenVerifier
from kit.problems import install_problem_handlers
from kit.settings import TrustedIssuer
from kit.testing import TestIssuer

ISSUER = "https://identity.helsinki.example"


class Issuer(TestIssuer):
    def __init__(self) -> None:
        super().__init__(ISSUER)

    # These tests name the key and the issuer of each token.
    def token(self, kid: str, *, exp_in: int = 300, iss: str = ISSUER, **claims: Any) -> str:  # type: ignore[override]  # narrower on purpose
        claims.setdefault("sub", "user-1")
        claims.setdefault("roles", ["resident"])
        self.issuer = iss
        try:
            return super().token(kid=kid, exp_in=exp_in, **claims)
        finally:
            self.issuer = ISSUER


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def verifier(issuer: Issuer) -> TokenVerifier:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=issuer.app), base_url="http://idp")
    return TokenVerifier(
        [TrustedIssuer(issuer=ISSUER, jwks_url="http://idp/.well-known/jwks.json")],
        audience="kohtaamo",
        http=http,
        min_refresh_s=0.0,
    )


async def test_valid_token_and_jwks_cached(issuer: Issuer, verifier: TokenVerifier) -> None:
    principal = await verifier.verify(issuer.token("k1", roles=["staff"]))
    assert principal == Principal(
        subject="user-1", municipality="helsinki", roles=frozenset({"staff"}), issuer=ISSUER
    )
    await verifier.verify(issuer.token("k1"))
    assert issuer.fetches == 1


async def test_unknown_key_id_refetches_jwks(issuer: Issuer, verifier: TokenVerifier) -> None:
    await verifier.verify(issuer.token("k1"))
    issuer.add_key("k2")  # the issuer rotated keys after we cached its JWKS
    principal = await verifier.verify(issuer.token("k2"))
    assert principal.subject == "user-1"
    assert issuer.fetches == 2
    with pytest.raises(InvalidToken, match="unknown key id"):
        forged = Issuer()
        forged.keys = {}
        forged.add_key("k9")
        await verifier.verify(forged.token("k9"))


async def test_unknown_kid_refresh_is_rate_limited(issuer: Issuer) -> None:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=issuer.app), base_url="http://idp")
    verifier = TokenVerifier(
        [TrustedIssuer(issuer=ISSUER, jwks_url="http://idp/.well-known/jwks.json")],
        audience="kohtaamo",
        http=http,
        min_refresh_s=60.0,
    )
    await verifier.verify(issuer.token("k1"))
    forged = Issuer()
    forged.keys = {}
    forged.add_key("k9")
    for _ in range(5):
        with pytest.raises(InvalidToken):
            await verifier.verify(forged.token("k9"))
    assert issuer.fetches == 1


async def test_expired_token_refused(issuer: Issuer, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(issuer.token("k1", exp_in=-60))


async def test_tampered_token_refused(issuer: Issuer, verifier: TokenVerifier) -> None:
    header, payload, signature = issuer.token("k1").split(".")
    other = issuer.token("k1", roles=["admin"]).split(".")[1]
    with pytest.raises(InvalidToken, match="Signature"):
        await verifier.verify(f"{header}.{other}.{signature}")
    assert payload != other


async def test_untrusted_issuer_and_wrong_audience_refused(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidToken, match="untrusted issuer"):
        await verifier.verify(issuer.token("k1", iss="https://evil.example"))
    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        await verifier.verify(issuer.token("k1", aud="someone-else"))
    with pytest.raises(InvalidToken, match="malformed"):
        await verifier.verify("not-a-token")


async def test_role_dependency_gives_problem_json(issuer: Issuer, verifier: TokenVerifier) -> None:
    auth = Auth(verifier)
    app = FastAPI()
    install_problem_handlers(app)

    staff = Depends(auth.require("staff"))

    @app.get("/staff-only")
    async def staff_only(principal: Principal = staff) -> dict[str, str]:
        return {"sub": principal.subject}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/staff-only")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = await c.get("/staff-only", headers={"Authorization": f"Bearer {issuer.token('k1')}"})
        assert r.status_code == 403 and "staff" in r.json()["detail"]
        token = issuer.token("k1", roles=["staff"])
        r = await c.get("/staff-only", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == {"sub": "user-1"}
        r = await c.get(
            "/staff-only", headers={"Authorization": f"Bearer {issuer.token('k1', exp_in=-60)}"}
        )
        assert r.status_code == 401 and "expired" in r.json()["detail"]
