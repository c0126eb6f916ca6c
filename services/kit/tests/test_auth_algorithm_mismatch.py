"""A token whose header names another key type's algorithm than the key with its id is
refused as invalid (not a server error)."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kit.auth import InvalidToken, TokenVerifier
from kit.testing import TestIssuer

ISSUER = "https://identity.algorithms.example"


async def test_rsa_signed_token_against_an_ed25519_key_is_invalid() -> None:
    ed_key = Ed25519PrivateKey.generate()
    public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key()))

    async def jwks() -> dict[str, object]:
        return {"keys": [{**public, "kid": "ed1", "alg": "EdDSA", "use": "sig"}]}

    verifier = TokenVerifier([], audience="kohtaamo")
    verifier.trust(ISSUER, jwks)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "kohtaamo", "sub": "u1", "iat": now, "exp": now + 60}
    good = jwt.encode(
        {**claims, "municipality": "helsinki"}, ed_key, algorithm="EdDSA", headers={"kid": "ed1"}
    )
    assert (await verifier.verify(good)).subject == "u1"

    impostor = TestIssuer(ISSUER)
    impostor.add_key("ed1")
    with pytest.raises(InvalidToken, match="algorithm does not match"):
        await verifier.verify(impostor.token(kid="ed1"))
