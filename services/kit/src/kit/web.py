"""The HTTP side every Kohtaamo process has: a FastAPI app with the kit's logging,
problem+json answers, body limit, request context (correlation ids), trusted proxies,
health and metrics routes, token checks, and startup and shutdown hooks. `kit.app.Service`
adds the store, the bus, consumers and the outbox; a process that only serves HTTP (the
gateway) builds on `WebService` alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.telemetry import TelemetryConfig
from typing_extensions import TypeVar
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kit import heap, tracing
from kit.auth import Auth, TokenVerifier
from kit.bodylimit import BodyLimit
from kit.consumer import Consumer
from kit.health import health_router
from kit.http import install_request_context
from kit.idempotency import IdempotencyRecorder, Replay, replay_response
from kit.links import ProxyPeer
from kit.logging import configure_logging
from kit.metrics import record_build
from kit.not_modified import NotModified
from kit.openapi import CONTACT, documented, operation_ids
from kit.problems import Problem, install_error_mapping, install_problem_handlers
from kit.query import known_query
from kit.settings import KitSettings

# The process's own settings class (`Service[EventsSettings]`): `svc.settings` is typed by
# it. A bare `Service` is one whose code reads only the kit's settings; covariant, so any
# service is one (the kit's own code takes a bare `Service`).
SettingsT = TypeVar("SettingsT", bound=KitSettings, default=KitSettings, covariant=True)
Hook = Callable[[], Awaitable[None]]
Error = TypeVar("Error", bound=Exception)
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _version(name: str, default: str) -> str:
    """The installed service package's version (`kohtaamo-<name>`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(f"kohtaamo-{name}")
    except PackageNotFoundError:
        return default


class WebService(Generic[SettingsT]):
    """An HTTP process: its settings, routers, hooks and token checks."""

    def __init__(
        self,
        name: str,
        *,
        settings: SettingsT,
        title: str | None = None,
        description: str = "",
        version: str = "0.1.0",
    ) -> None:
        self.settings = settings
        self.settings.service = name
        # Off unless the OTEL_* environment configures an exporter (kit.tracing). Before
        # any store client is made: PyMongo's listeners reach only clients made later.
        tracing.setup(name, site=settings.site_name())
        self.name = name
        self.title = title or f"Kohtaamo {name}"
        self.description = description
        self.version = version
        self.verifier = TokenVerifier(
            self.settings.issuers(),
            audience=self.settings.token_audience,
            cache_s=self.settings.jwks_cache_s,
            min_refresh_s=self.settings.jwks_min_refresh_s,
        )
        self.auth = Auth(self.verifier)
        self.routers: list[APIRouter] = []
        # What it consumes: nothing, unless it is a kit Service. Tools that walk every
        # installed process (DLQ listing, AsyncAPI documents) read this alike.
        self.consumers: list[Consumer] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._error_maps: list[tuple[type[Any], Callable[[Any], Problem]]] = []
        self.started = False

    def include_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def map_errors(self, kind: type[Error], to_problem: Callable[[Error], Problem]) -> None:
        """Answer the domain's errors of `kind` (exceptions that are not HTTP answers) with
        the problem+json its API layer maps each to."""
        self._error_maps.append((kind, to_problem))

    def on_startup(self, hook: Hook) -> Hook:
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        self._shutdown.append(hook)
        return hook

    async def start(self) -> None:
        for hook in self._startup:
            await hook()
        heap.freeze_startup_heap()  # what start-up built lives as long as the process
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for hook in reversed(self._shutdown):
            await hook()

    async def readiness(self) -> dict[str, dict[str, Any]]:
        """Whether this replica should take HTTP traffic (`/readyz`)."""
        return {"started": {"ok": self.started}}

    async def consumer_health(self) -> dict[str, dict[str, Any]]:
        """The consumers on their own (`/readyz/consumers`): none here, nothing to fail."""
        return {"consumers": {"ok": True, "attached": {}}}

    def create_app(self) -> FastAPI:
        configure_logging(
            service=self.name, fmt=self.settings.log_format, level=self.settings.log_level
        )

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()
                tracing.flush()

        app = FastAPI(
            title=self.title,
            description=self.description,
            version=self.version,
            lifespan=lifespan,
            generate_unique_id_function=operation_ids(self.name),
            contact=CONTACT,
            # Every route refuses query parameters it does not take (422, kit.query).
            dependencies=[Depends(known_query)],
            # With tracing off FastAPI's own OpenTelemetry still asks the global providers
            # on every request (environment reads, ~5% of a catalogue list's CPU); told it
            # is off, it skips that. On, FastAPI's defaults stand (kit.tracing).
            telemetry=None if tracing.enabled else NO_TELEMETRY,
        )
        app.state.service = self
        install_problem_handlers(app)
        for kind, to_problem in self._error_maps:
            install_error_mapping(app, kind, to_problem)
        # Innermost: a 304 still gets the platform's headers from the middleware outside it.
        app.add_middleware(NotModified)
        app.add_middleware(BodyLimit, limit=self.settings.max_body_bytes)
        store = getattr(self, "store", None)
        if store is not None:  # keys are kept in the service's store (kit.idempotency)
            app.add_middleware(IdempotencyRecorder, db=lambda: store.db)

            @app.exception_handler(Replay)
            async def _replay(_: Request, exc: Replay) -> Response:
                return replay_response(exc.record)

        install_request_context(app, service=self.name, municipality=self.settings.municipality)
        if self.settings.trusted_proxies:
            # uvicorn's own handling, in the app rather than the server (`kohtaamo run`
            # turns the server's off): the same networks wherever the app is served.
            app.add_middleware(
                ProxyHeadersMiddleware,
                trusted_hosts=self.settings.trusted_proxies,
            )
            # Outside it: whether the request came through a proxy is known only here.
            app.add_middleware(ProxyPeer, trusted=self.settings.trusted_proxies)
        app.include_router(health_router(self))
        for router in self.routers:
            app.include_router(router)
        documented(app)
        tracing.instrument_app(app, trusted=self.settings.trusted_proxies)
        record_build(self.name, _version(self.name, self.version), self.settings.build_revision)
        return app
