"""The proxied path's way past the framework: a request for the catch-all (an /api/v1 path
no route of the gateway's own matches, in a method it serves) goes from the innermost
middleware straight to the proxy, skipping the exception middleware, the router's walk
over every route and the route's own wrapping (a proxied request took 0.93-0.94 of the
time, upstream hop included, measured in one process against the route alone). What the
router would decide differently (the gateway's own routes, other methods) still goes the
long way, to the same `Proxied` app. Problems are answered by the app's own problem
handlers; anything else propagates to the server-error middleware as it would through the
router."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api import METHODS, ProxyRoute
from gateway.routes import API_PREFIX

# As Starlette keeps them: the app's problem handlers are all async.
Handler = Callable[[Request, Any], Any]


class ProxyShortcut:
    def __init__(self, app: ASGIApp, *, gateway: FastAPI) -> None:
        # Made when the app builds its middleware stack (on its first call), so its routes
        # and problem handlers are all there. Only routes ahead of the catch-all can win
        # over it in the router's walk; their effective paths (with any include prefix)
        # come from FastAPI's route contexts.
        self.app = app
        ahead: list[BaseRoute] = []
        proxy: ProxyRoute | None = None
        for route in gateway.router.routes:
            if isinstance(route, ProxyRoute):
                proxy = route
                break
            ahead.append(route)
        assert proxy is not None, "the gateway's catch-all route is missing"
        self.proxy = proxy
        self.own = [
            context.path_regex
            for context in iter_route_contexts(ahead)
            if (context.path or "").startswith(API_PREFIX)
        ]
        self.handlers: dict[Any, Handler] = {
            k: v for k, v in gateway.exception_handlers.items() if k not in (500, Exception)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in METHODS
            or scope.get("root_path")  # mounted under a prefix: the router knows best
            or not scope["path"].startswith(API_PREFIX + "/")
            or any(own.match(scope["path"]) for own in self.own)
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.proxy  # as the router would: metrics and logs name the template
        try:
            await self.proxy.app(scope, receive, send)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
