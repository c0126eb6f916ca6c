"""Token verification: tokens signed by an identity service (asymmetric, with key id),
checked against that issuer's JWKS (cached, refreshed on an unknown key id) or against a
configured trusted issuer of a partner municipality."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
import structlog
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit.principal import ROLES as ROLES  # kept here too: where services import them
from kit.principal import Principal as Principal
from kit.problems import Problem
from kit.settings import TrustedIssuer


class Revoked(Protocol):
    def revoked(self, subject: str, issued_at: Any) -> bool: ...


ALGORITHMS = ["RS256", "ES256", "EdDSA"]
log = structlog.get_logger("kit.auth")


KeySource = Callable[[], Awaitable[dict[str, Any]]]


class InvalidToken(Exception):
    pass


@dataclass
class _KeySet:
    keys: dict[str, Any]
    fetched_at: float


class TokenVerifier:
    def __init__(
        self,
        issuers: Iterable[TrustedIssuer],
        *,
        audience: str,
        http: httpx.AsyncClient | None = None,
        cache_s: float = 300.0,
        min_refresh_s: float = 5.0,
    ) -> None:
        self.audience = audience
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self._http = http
        self._sources: dict[str, KeySource] = {i.issuer: self._fetcher(i.jwks_url) for i in issuers}
        self._keysets: dict[str, _KeySet] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # The deny list of revoked tokens (kit.revocation), set by the service.
        self.revocations: Revoked | None = None

    def trust(self, issuer: str, source: KeySource) -> None:
        """Trust an issuer whose JWKS comes from a function (identity's own keys)."""
        self._sources[issuer] = source
        self._keysets.pop(issuer, None)

    @property
    def issuers(self) -> list[str]:
        return list(self._sources)

    def _fetcher(self, url: str) -> KeySource:
        async def fetch() -> dict[str, Any]:
            client = self._http or httpx.AsyncClient(timeout=5.0)
            try:
                response = await client.get(url)
                response.raise_for_status()
                keys = response.json()
                if not isinstance(keys, dict):
                    raise ValueError(f"{url} answered no JSON object")
                return keys
            finally:
                if self._http is None:
                    await client.aclose()

        return fetch

    async def _load(self, issuer: str) -> _KeySet:
        jwks = await self._sources[issuer]()
        keys = {}
        for jwk in jwks.get("keys", []):
            if "kid" in jwk:
                keys[jwk["kid"]] = jwt.PyJWK.from_dict(jwk).key
        keyset = _KeySet(keys=keys, fetched_at=time.monotonic())
        self._keysets[issuer] = keyset
        log.info("auth.jwks_loaded", issuer=issuer, kids=sorted(keys))
        return keyset

    async def _key(self, issuer: str, kid: str) -> Any:
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            keyset = self._keysets.get(issuer)
            now = time.monotonic()
            stale = keyset is None or now - keyset.fetched_at > self.cache_s
            unknown = keyset is not None and kid not in keyset.keys
            # An unknown kid means the issuer rotated keys: refetch, but not more often
            # than min_refresh_s so a flood of forged kids cannot hammer the issuer.
            refreshable = keyset is not None and now - keyset.fetched_at >= self.min_refresh_s
            if stale or (unknown and refreshable):
                try:
                    keyset = await self._load(issuer)
                except Exception as exc:
                    if keyset is None:
                        raise InvalidToken(f"keys of issuer {issuer} unavailable") from exc
                    log.warning("auth.jwks_refresh_failed", issuer=issuer, error=str(exc))
            assert keyset is not None
            if kid not in keyset.keys:
                raise InvalidToken("unknown key id")
            return keyset.keys[kid]

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        issuer = unverified.get("iss")
        if issuer not in self._sources:
            raise InvalidToken("untrusted issuer")
        if header.get("alg") not in ALGORITHMS or not header.get("kid"):
            raise InvalidToken("unsupported algorithm or missing key id")
        key = await self._key(issuer, header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=10,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        except (TypeError, ValueError) as exc:
            # The header names an algorithm of another key type than the key with that id.
            raise InvalidToken("token algorithm does not match its key") from exc
        if self.revocations is not None and self.revocations.revoked(
            str(claims["sub"]), claims.get("iat")
        ):
            raise InvalidToken("token revoked")
        municipality = claims.get("municipality")
        if not isinstance(municipality, str) or not municipality:
            raise InvalidToken("token has no municipality")
        roles = claims.get("roles") or []
        return Principal(
            subject=str(claims["sub"]),
            municipality=municipality,
            roles=frozenset(r for r in roles if isinstance(r, str)),
            issuer=issuer,
            claims=claims,
        )


_bearer = HTTPBearer(auto_error=False)


class Auth:
    """FastAPI dependencies: who is calling, and may they?"""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def optional(self, request: Request) -> Principal | None:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            return None
        return await self._principal(request, credentials.credentials)

    async def principal(self, request: Request) -> Principal:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise Problem(
                401,
                "Unauthorized",
                "A bearer token is required.",
                extra={},
                type_="https://kohtaamo.fi/problems/unauthorized",
            )
        return await self._principal(request, credentials.credentials)

    async def _principal(self, request: Request, token: str) -> Principal:
        try:
            principal = await self.verifier.verify(token)
        except InvalidToken as exc:
            raise Problem(
                401,
                "Unauthorized",
                f"Invalid token: {exc}",
                type_="https://kohtaamo.fi/problems/invalid-token",
            ) from exc
        request.state.principal = principal
        structlog.contextvars.bind_contextvars(municipality=principal.municipality)
        return principal

    def require(self, *roles: str) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency that admits only callers with one of `roles`."""

        async def dependency(request: Request) -> Principal:
            principal = await self.principal(request)
            if roles and not principal.has(*roles):
                raise Problem(
                    403,
                    "Forbidden",
                    f"Requires one of the roles: {', '.join(roles)}.",
                    type_="https://kohtaamo.fi/problems/forbidden",
                )
            return principal

        return dependency


def ensure_municipality(
    principal: Principal, municipality: str, *, network_read: bool = False
) -> None:
    """Tenant check every service makes itself: staff and users act only within their own
    municipality; the network role may read across municipalities where allowed."""
    if principal.municipality == municipality:
        return
    if network_read and principal.has("analyst"):
        return
    raise Problem(
        403,
        "Forbidden",
        f"No access to municipality {municipality}.",
        type_="https://kohtaamo.fi/problems/other-municipality",
    )
