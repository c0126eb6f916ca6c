"""Event signatures: end-to-end authenticity across federation, where RabbitMQ's `user_id`
is lost (a federation link drops it). Each site signs the envelopes its services produce
with an Ed25519 key (a JWK whose `kid` starts with `<site>:`), over a canonical form of the
CloudEvent, carried in the CloudEvents extensions `sigkid` and `sig`. A consumer checks the
signature against the keys of the sites it trusts (its own, and partners configured as
trusted with their JWKS), then the policy: the signer's site speaks only for its own
municipalities, only through the services it runs, and an envelope's `source` names its
municipality and producing service.

Keys rotate without downtime as identity's token keys do: publish the next key in the
site's JWKS (every verifier takes it, a partner on its next refresh), switch the signing
key, and drop the old one from the JWKS once nothing signed with it is in flight."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from pydantic import BaseModel, Field

from contracts import CloudEvent, topology

SIG = "sig"
KID = "sigkid"


class Unauthenticated(Exception):
    """An envelope whose signature or signer's authority does not hold."""


class UnknownKey(Unauthenticated):
    """Signed with a key id no trusted JWKS has (yet): a refresh may find it."""


class EventSigner(BaseModel):
    """A site whose signed events this site accepts: the municipalities it speaks for,
    the services it runs (empty: any), and its public keys (a JWKS inline or by URL)."""

    site: str = Field(min_length=1, pattern=r"^[a-z0-9-]+$")
    municipalities: list[str] = Field(min_length=1)
    services: list[str] = Field(default_factory=list)
    jwks: dict[str, Any] | None = None
    jwks_url: str = ""


def canonical(envelope: Mapping[str, Any]) -> bytes:
    """What is signed: the envelope without its signature, keys sorted, no whitespace,
    UTF-8 (JSON's own escaping of strings; numbers as Python writes them)."""
    unsigned = {k: v for k, v in envelope.items() if k != SIG}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key(site: str, version: str) -> dict[str, Any]:
    """A new private signing key as a JWK (`kohtaamo keys new`)."""
    key = Ed25519PrivateKey.generate()
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key))
    return {**jwk, "kid": f"{site}:{version}", "alg": "EdDSA", "use": "sig"}


def public_jwk(private_jwk: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in private_jwk.items() if k != "d"}


class Signer:
    """Signs envelopes with the site's current key."""

    def __init__(self, private_jwk: Mapping[str, Any]) -> None:
        key = OKPAlgorithm.from_jwk(json.dumps(dict(private_jwk)))
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the event signing key must be an Ed25519 private key (OKP JWK)")
        self.key = key
        self.kid = str(private_jwk["kid"])
        self.jwk = public_jwk(private_jwk)

    def seal(self, event: CloudEvent) -> bytes:
        """The envelope's body, signed."""
        return json.dumps(self.sealed(event), ensure_ascii=False).encode()

    def sealed(self, event: CloudEvent) -> dict[str, Any]:
        document = event.model_dump(mode="json")
        document.pop(SIG, None)
        document[KID] = self.kid
        document[SIG] = _b64(self.key.sign(canonical(document)))
        return document


@dataclass(frozen=True)
class _Key:
    signer: EventSigner
    key: Ed25519PublicKey


class SignatureVerifier:
    """Checks envelopes against the trusted sites' keys and the policy. Keys by URL are
    fetched at start and again, at most every `min_refresh_s`, when an unknown key id
    comes (a partner's new key)."""

    def __init__(self, signers: list[EventSigner], *, min_refresh_s: float = 30.0) -> None:
        self.signers = signers
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, _Key] = {}
        self._refreshed = 0.0
        for signer in signers:
            if signer.jwks is not None:
                self._add(signer, signer.jwks)

    def _add(self, signer: EventSigner, jwks: Mapping[str, Any]) -> None:
        for jwk in jwks.get("keys", []):
            kid = str(jwk.get("kid", ""))
            # A site's keys are named after it: no partner can publish a key that would
            # stand for another site's.
            if not kid.startswith(f"{signer.site}:") or jwk.get("crv") != "Ed25519":
                continue
            key = OKPAlgorithm.from_jwk(json.dumps(public_jwk(jwk)))
            if isinstance(key, Ed25519PublicKey):
                self._keys[kid] = _Key(signer, key)

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the JWKS of the sites that publish one by URL; False when it is too soon
        after the last time."""
        now = time.monotonic()
        if not force and now - self._refreshed < self.min_refresh_s:
            return False
        self._refreshed = now
        async with httpx.AsyncClient(timeout=5.0) as client:
            for signer in self.signers:
                if not signer.jwks_url:
                    continue
                try:
                    response = await client.get(signer.jwks_url)
                    response.raise_for_status()
                    self._add(signer, response.json())
                except (httpx.HTTPError, ValueError):
                    continue  # keep the keys known; the next unknown key tries again
        return True

    def verify(self, document: Mapping[str, Any], event: CloudEvent) -> str:
        """The signer's site, or raises Unauthenticated with the reason."""
        kid, signature = document.get(KID), document.get(SIG)
        if not isinstance(kid, str) or not isinstance(signature, str):
            raise Unauthenticated("not signed")
        found = self._keys.get(kid)
        if found is None:
            raise UnknownKey(f"signed with an unknown key {kid[:100]!r}")
        try:
            found.key.verify(_unb64(signature), canonical(document))
        except (InvalidSignature, ValueError) as exc:
            raise Unauthenticated(f"signature of {kid!r} does not match the envelope") from exc
        authorise(found.signer, event)
        return found.signer.site


def authorise(signer: EventSigner, event: CloudEvent) -> None:
    """The policy: a site speaks only for its municipalities (only identity of Helsinki's
    site says anything about Helsinki's users), only through the services it runs, and
    an envelope's source is `/kohtaamo/<municipality>/<producer of its type>`."""
    producer = topology.producer_of(event.type)
    if event.municipality not in signer.municipalities:
        raise Unauthenticated(
            f"site {signer.site} may not speak for municipality {event.municipality[:100]!r}"
        )
    if signer.services and producer not in signer.services:
        raise Unauthenticated(f"site {signer.site} runs no {producer} service")
    expected = f"/kohtaamo/{event.municipality}/{producer}"
    if event.source != expected:
        raise Unauthenticated(f"source {event.source[:100]!r} is not {expected}")
