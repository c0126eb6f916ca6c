"""The /api/v1 routes: everything not answered by the gateway itself goes to the service
that owns the path (see routes.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from gateway.errors import EdgeProblem
from gateway.proxy import forward
from gateway.routes import API_PREFIX, RouteTable
from gateway.upstreams import Upstreams
from kit.auth import Principal

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def proxy_router(upstreams: Upstreams, table: RouteTable, edge: Any) -> APIRouter:
    router = APIRouter()

    @router.api_route(f"{API_PREFIX}/{{path:path}}", methods=METHODS, include_in_schema=False)
    async def proxied(request: Request, _: Principal | None = Depends(edge)) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        upstream_path = raw.decode("latin-1").removeprefix(API_PREFIX)
        route = table.match(upstream_path)
        if route is None:
            raise EdgeProblem(
                404,
                "Not found",
                f"No service answers {request.url.path}.",
                kind="no-route",
            )
        return await forward(
            request, upstreams, route.service, route.upstream_path, request.state.client_address
        )

    return router


def signed_in(edge: Any) -> Any:
    async def dependency(principal: Principal | None = Depends(edge)) -> Principal:
        if principal is None:
            raise EdgeProblem(
                401,
                "Unauthorized",
                "A bearer token is required.",
                kind="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return principal

    return dependency
