"""What happens to every /api/v1 request before it is routed: the per-address limit (before
any token work, so a flood of forged tokens is cheap to refuse), the stricter limit on
sign-up and login, one token verification, and the per-user limit."""

from __future__ import annotations

from fastapi import Request

from gateway.errors import EdgeProblem
from gateway.proxy import client_address
from gateway.rate_limits import RateLimits
from gateway.routes import API_PREFIX
from kit.auth import Auth, Principal


class Edge:
    def __init__(self, auth: Auth, limits: RateLimits) -> None:
        self.auth = auth
        self.limits = limits

    async def __call__(self, request: Request) -> Principal | None:
        client = client_address(request)
        request.state.client_address = client
        await self.limits.hit(self.limits.client, client)
        path = request.scope["path"].removeprefix(API_PREFIX)
        if self.limits.is_auth(request.method, path):
            await self.limits.hit(self.limits.auth, client)
        authorization = request.headers.get("authorization")
        if authorization is None:
            return None  # anonymous: the service decides whether that is allowed
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise EdgeProblem(
                401,
                "Unauthorized",
                "Authorization must be a bearer token.",
                kind="invalid-token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await self.auth.optional(request)
        assert principal is not None
        await self.limits.hit(self.limits.user, f"{principal.issuer}|{principal.subject}")
        return principal
