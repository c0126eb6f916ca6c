"""The OpenID Connect relying party: a municipality's provider, its discovery document and
keys, the authorization URL (code flow with PKCE, state and nonce) and the checked result of
a code (ID token and userinfo claims). Authlib speaks OAuth; joserfc (Authlib's JOSE)
checks the ID token. What a sign-in does with the claims is in `city_login.py`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from identity.errors import (
    IdentityError,
    NotFound,
    ProviderUnavailable,
    Unauthenticated,
)
from identity.settings import IdentitySettings, OidcProvider

log = structlog.get_logger("identity.oidc")

# Asymmetric signatures only: `none` and shared-secret HMAC are never accepted.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
REFUSED = "city-login-refused"


def refused(
    detail: str, field: str, *, error: type[IdentityError] = Unauthenticated
) -> IdentityError:
    """The city's sign-in proves nothing here: its answer is not valid (or the sign-in is
    unknown, expired or used: BadRequest; it lacks what an account needs: Invalid)."""
    return error(detail, field=field, title="City sign-in refused", kind=REFUSED)


def unavailable(detail: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        detail, title="City sign-in unavailable", kind="city-login-unavailable"
    )


@dataclass
class _Cached:
    metadata: dict[str, Any]
    keys: KeySet | None = None
    fetched_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Verified:
    """What the provider said about the person, after every check."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    id_token: str


class Providers:
    """Discovery documents and keys of the configured providers, cached per replica."""

    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self._cache: dict[str, _Cached] = {}

    def configured(self, municipality: str) -> OidcProvider:
        provider = self.settings.oidc_providers.get(municipality)
        if provider is None:
            raise NotFound(f"{municipality} has no city sign-in.", field="municipality")
        return provider

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.settings.oidc_http_timeout_s)

    async def metadata(self, municipality: str) -> dict[str, Any]:
        return (await self._entry(municipality)).metadata

    async def _entry(self, municipality: str) -> _Cached:
        provider = self.configured(municipality)
        cached = self._cache.get(municipality)
        if cached and time.monotonic() - cached.fetched_at < self.settings.oidc_metadata_cache_s:
            return cached
        url = provider.discovery_url or (
            provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        metadata = await self._get_json(url)
        # OpenID Connect Discovery 1.0, 4.3: the document must name the configured issuer,
        # else its endpoints and keys speak for someone else.
        if metadata.get("issuer") != provider.issuer:
            log.warning("oidc.issuer_mismatch", municipality=municipality, url=url)
            raise unavailable(
                f"The provider's discovery document names issuer {metadata.get('issuer')!r}, "
                f"not the configured {provider.issuer!r}."
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(name), str):
                raise unavailable(f"The provider's discovery document has no {name}.")
        entry = _Cached(metadata)
        self._cache[municipality] = entry
        return entry

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("oidc.provider_unreachable", url=url, error=str(exc))
            raise unavailable("The city's sign-in service did not answer; try again.") from exc
        if not isinstance(body, dict):
            raise unavailable("The city's sign-in service gave an unreadable answer.")
        return body

    async def _keys(self, municipality: str, *, refetch: bool = False) -> KeySet:
        entry = await self._entry(municipality)
        if entry.keys is None or refetch:
            try:
                entry.keys = KeySet.import_key_set(
                    # import_key_set validates the document: ValueError/TypeError otherwise.
                    await self._get_json(entry.metadata["jwks_uri"])  # type: ignore[arg-type]  # a JWKS dict is no joserfc TypedDict to mypy
                )
            except (JoseError, ValueError, TypeError) as exc:
                raise unavailable("The city's sign-in keys are unreadable.") from exc
        return entry.keys

    def client(self, municipality: str, metadata: dict[str, Any]) -> AsyncOAuth2Client:
        provider = self.configured(municipality)
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        return AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=provider.client_secret.get_secret_value(),
            scope=" ".join(provider.scopes),
            redirect_uri=self.settings.oidc_redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=(
                "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
            ),
            timeout=self.settings.oidc_http_timeout_s,
        )

    async def authorization_url(
        self, municipality: str, *, state: str, nonce: str, verifier: str
    ) -> str:
        metadata = await self.metadata(municipality)
        async with self.client(municipality, metadata) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=verifier,
            )
        return str(url)

    async def exchange(
        self, municipality: str, *, code: str, verifier: str, nonce: str
    ) -> Verified:
        """The code's tokens from the provider, the ID token checked (signature, issuer,
        audience, expiry, nonce), with the userinfo claims of the same subject."""
        metadata = await self.metadata(municipality)
        async with self.client(municipality, metadata) as client:
            try:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=verifier
                )
            except OAuthError as exc:
                # invalid_grant: a code used before, expired, or not issued for this sign-in.
                log.info("oidc.code_refused", municipality=municipality, error=exc.error)
                raise refused(
                    f"The provider refused the code ({exc.error}): it was used already, "
                    "expired or belongs to another sign-in.",
                    "code",
                ) from exc
            except httpx.HTTPError as exc:
                raise unavailable("The city's sign-in service did not answer; try again.") from exc
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise refused("The provider gave no ID token.", "id_token")
            claims = await self.check_id_token(municipality, id_token, nonce=nonce)
            userinfo = metadata.get("userinfo_endpoint")
            if isinstance(userinfo, str):
                try:
                    response = await client.get(userinfo)
                    response.raise_for_status()
                    extra = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise unavailable("The city's userinfo did not answer; try again.") from exc
                # OpenID Connect Core 5.3.2: userinfo of another subject is not this person's.
                if not isinstance(extra, dict) or extra.get("sub") != claims["sub"]:
                    raise refused("The provider's userinfo is of another subject.", "sub")
                claims = {**extra, **claims}
        return Verified(claims["iss"], claims["sub"], claims, id_token)

    async def check_id_token(
        self, municipality: str, id_token: str, *, nonce: str, now: int | None = None
    ) -> dict[str, Any]:
        provider = self.configured(municipality)
        try:
            try:
                decoded = jwt.decode(id_token, await self._keys(municipality), ALGORITHMS)
            except (BadSignatureError, ValueError):
                # A rotated key: the provider's keys once more, then the verdict stands.
                keys = await self._keys(municipality, refetch=True)
                decoded = jwt.decode(id_token, keys, ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise refused("The ID token's signature is not the provider's.", "id_token") from exc
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.settings.oidc_leeway_s,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        claims = dict(decoded.claims)
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise refused("The ID token has expired.", "id_token") from exc
        except (InvalidClaimError, MissingClaimError) as exc:
            name = str(getattr(exc, "claim", "id_token"))
            what = {
                "iss": "is from another issuer",
                "aud": "is for another client",
                "nonce": "does not answer this sign-in (nonce)",
            }.get(name, f"has an invalid {name}")
            field = "nonce" if name == "nonce" else "id_token"
            raise refused(f"The ID token {what}.", field) from exc
        except JoseError as exc:
            raise refused(f"The ID token is not valid: {exc}.", "id_token") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise refused("The ID token is for another client (azp).", "id_token")
        return claims

    async def end_session_url(
        self, municipality: str, *, id_token: str | None, state: str
    ) -> str | None:
        """The provider's logout address (RP-initiated logout), when it has one."""
        try:
            metadata = await self.metadata(municipality)
        except IdentityError:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        params = {
            "client_id": self.configured(municipality).client_id,
            "post_logout_redirect_uri": self.settings.oidc_post_logout_redirect_uri,
            "state": state,
        }
        if id_token:
            params["id_token_hint"] = id_token
        return str(httpx.URL(endpoint, params=params))
