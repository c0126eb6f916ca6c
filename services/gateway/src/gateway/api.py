"""The /api/v1 routes: everything not answered by the gateway itself goes to the service
that owns the path (see routes.py).

The catch-all is a plain ASGI endpoint on a Starlette `Route`, not a FastAPI route: every
proxied request paid for FastAPI's dependency solving and response wrapping, which was a
good part of what the gateway adds per request. The route still sits last in the router
(so the gateway's own /api/v1 routes win), answers 405 for other methods, and its errors
still go through the app's problem handlers."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from gateway.edge import Edge
from gateway.errors import EdgeProblem
from gateway.location import rewrite_locations
from gateway.proxy import forward
from gateway.routes import API_PREFIX, RouteTable
from gateway.upstreams import Upstreams
from kit.auth import Principal

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PROXY_PATH = f"{API_PREFIX}/{{path:path}}"


class Proxied:
    """The ASGI app behind the catch-all route: edge checks, then forward."""

    def __init__(self, upstreams: Upstreams, table: RouteTable, edge: Edge) -> None:
        self.upstreams = upstreams
        self.table = table
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await self.edge(request)
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        upstream_path = raw.decode("latin-1").removeprefix(API_PREFIX)
        route = self.table.match(upstream_path)
        if route is None:
            raise EdgeProblem(
                404,
                "Not found",
                f"No service answers {scope['path']}.",
                kind="no-route",
            )
        response = await forward(
            request,
            self.upstreams,
            route.service,
            route.upstream_path,
            request.state.client_address,
        )
        response.raw_headers = rewrite_locations(
            response.raw_headers,
            self.upstreams.get(route.service).url,
            route.service,
            self.table,
        )
        await response(scope, receive, send)


class ProxyRoute(Route):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            # As FastAPI's routes do: metrics and logs name the template, not the raw path.
            child_scope["route"] = self
        return match, child_scope


def proxy_route(upstreams: Upstreams, table: RouteTable, edge: Edge) -> Route:
    return ProxyRoute(
        PROXY_PATH,
        endpoint=Proxied(upstreams, table, edge),
        methods=METHODS,
        include_in_schema=False,
    )


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
