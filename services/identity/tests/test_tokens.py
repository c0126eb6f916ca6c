"""Signing keys: JWKS, encrypted private keys at rest, rotation that keeps still-valid
tokens valid, municipality administration by a platform admin, and foreign tokens refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from identity.session import Sessions
from kit.testing import TestIssuer


async def test_jwks_lists_public_keys_only_and_keys_are_encrypted_at_rest(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and key["use"] == "sig"
        assert "d" not in key  # no private part
    stored = await ctx.db.signing_keys.find_one({"active": True})
    assert stored["encrypted"] is True
    assert b"ENCRYPTED PRIVATE KEY" in stored["private_pem"]


async def test_rotation_keeps_valid_tokens_valid(
    client: httpx.AsyncClient, signup: Callable[..., Any], staff_user: Callable[..., Any]
) -> None:
    platform = await staff_user(["platform_admin"])
    before = await signup()
    old_kid = (await client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]

    denied = await client.post("/admin/keys/rotate", headers=before["headers"])
    assert denied.status_code == 403
    rotated = await client.post("/admin/keys/rotate", headers=platform["headers"])
    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid

    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids[0] == new_kid and old_kid in kids
    # A token signed with the old key still works; a new one is signed with the new key.
    assert (await client.get("/me", headers=before["headers"])).status_code == 200
    after = await signup()
    assert (await client.get("/me", headers=after["headers"])).status_code == 200
    assert jwt.get_unverified_header(after["tokens"]["access_token"])["kid"] == new_kid


async def test_untrusted_issuer_and_tampered_tokens_are_refused(
    client: httpx.AsyncClient, signup: Callable[..., Any]
) -> None:
    stranger = TestIssuer("https://identity.elsewhere.example")
    forged = await client.get("/me", headers=stranger.headers(roles=["admin"]))
    assert forged.status_code == 401 and "untrusted issuer" in forged.json()["detail"]
    # Same issuer name and key id, wrong key: the signature does not verify.
    out = await signup()
    real_kid = jwt.get_unverified_header(out["tokens"]["access_token"])["kid"]
    impostor = TestIssuer("http://identity.test")
    impostor.add_key(real_kid)
    faked = await client.get(
        "/me", headers=impostor.headers(sub=out["user"]["id"], kid=real_kid, roles=["admin"])
    )
    assert faked.status_code == 401 and "Invalid token" in faked.json()["detail"]


async def test_municipalities_are_created_by_a_platform_admin(
    client: httpx.AsyncClient, staff_user: Callable[..., Any]
) -> None:
    platform = await staff_user(["platform_admin"])
    admin = await staff_user(["admin"])
    body = {"slug": "tampere", "name": {"fi": "Tampere", "sv": "Tammerfors"}, "languages": ["fi"]}
    assert (
        await client.post("/municipalities", json=body, headers=admin["headers"])
    ).status_code == 403
    created = await client.post("/municipalities", json=body, headers=platform["headers"])
    assert created.status_code == 201
    again = await client.post("/municipalities", json=body, headers=platform["headers"])
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "slug"
    bad = await client.post(
        "/municipalities",
        json={**body, "slug": "Bad Slug", "timezone": "Mars/Olympus"},
        headers=platform["headers"],
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"slug", "timezone"}
    listed = (await client.get("/municipalities")).json()
    assert {"helsinki", "kouvola", "tampere"} <= {m["slug"] for m in listed["items"]}
    assert listed["total"] == len(listed["items"]) and listed["next"] is None
    paged = (await client.get("/municipalities", params={"limit": 1, "offset": 1})).json()
    assert paged["items"] == listed["items"][1:2] and paged["total"] == listed["total"]
    assert (await client.get("/municipalities/tampere")).json()["name"]["sv"] == "Tammerfors"
    assert (await client.get("/municipalities/nowhere")).status_code == 404


async def test_expired_access_and_refresh_tokens_are_refused(
    client: httpx.AsyncClient, signup: Callable[..., Any], ctx: Any
) -> None:
    out = await signup()
    user = await ctx.db.users.find_one({"_id": out["user"]["id"]})
    # The same keys with a lifetime already over (beyond the verifiers' clock-skew leeway).
    past = Sessions(ctx.db, ctx.keys, ctx.settings.model_copy(update={"access_token_ttl_s": -60}))
    expired = await past.access_token(user)
    refused = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]

    await ctx.db.refresh_tokens.update_many(
        {"user_id": user["_id"]},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    stale = await client.post(
        "/auth/refresh", json={"refresh_token": out["tokens"]["refresh_token"]}
    )
    assert stale.status_code == 401
