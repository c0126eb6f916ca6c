"""Gateway settings (`KOHTAAMO_` environment variables). Where each service lives, which
paths go to it, limits, breaker and CORS all come from here, so a municipality can point a
route at a partner's service or leave a service out without touching code."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from kit.settings import KitSettings

SERVICES = ("identity", "events", "bookings", "notifications", "analytics")


class Upstreams(BaseModel):
    """Base URL per service; empty (or "none") means not deployed at this site. A URL may
    carry a path prefix (`https://partner.example/events-api`)."""

    identity: str | None = "http://127.0.0.1:8001"
    events: str | None = "http://127.0.0.1:8002"
    bookings: str | None = "http://127.0.0.1:8003"
    notifications: str | None = "http://127.0.0.1:8004"
    analytics: str | None = "http://127.0.0.1:8005"

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "none", "-"}:
            return None
        return value.rstrip("/") if isinstance(value, str) else value

    def deployed(self) -> dict[str, str]:
        return {name: url for name in SERVICES if (url := getattr(self, name))}


# Gateway path prefix (after /api/v1/, whole segments) -> owning service. The longest
# matching prefix wins, so `feeds/events.ics` goes to events while `feeds` goes to bookings.
# "service:/prefix" rewrites the matched prefix for paths two services both use.
DEFAULT_ROUTES: dict[str, str] = {
    # identity
    "auth": "identity",
    "me": "identity",
    "municipalities": "identity",
    "organisations": "identity",
    "users": "identity",
    "mentors": "identity",
    "erasures": "identity",
    "admin/keys": "identity",
    ".well-known/jwks.json": "identity",
    # events
    "events": "events",
    "series": "events",
    "venues": "events",
    "registrations": "events",
    "feeds/events.ics": "events",
    # bookings
    "bookings": "bookings",
    "booking-series": "bookings:/series",
    "locations": "bookings",
    "resources": "bookings",
    "blocks": "bookings",
    "feeds": "bookings",
    "me/feed": "bookings",
    # notifications
    "notifications": "notifications",
    # analytics
    "analytics": "analytics",
    # each service's audit log of privileged actions (kit.audit), served at its /audit
    "audit/identity": "identity:/audit",
    "audit/events": "events:/audit",
    "audit/bookings": "bookings:/audit",
    "audit/analytics": "analytics:/audit",
}


class MyPagePart(BaseModel):
    """One part of GET /api/v1/me/overview: a GET on a service, as the caller."""

    service: str
    path: str


DEFAULT_MY_PAGE: dict[str, MyPagePart] = {
    "bookings": MyPagePart(service="bookings", path="/bookings/mine"),
    "registrations": MyPagePart(service="events", path="/registrations/mine"),
    "notices": MyPagePart(service="notifications", path="/notifications/inbox?unread=true"),
}


class GatewaySettings(KitSettings):
    service: str = "gateway"
    # The gateway keeps no data: nothing to ask a store about at start.
    mongo_kind: Literal["auto", "mongodb", "embedded"] = "mongodb"
    upstreams: Upstreams = Field(default_factory=Upstreams)
    routes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    # Extra routes merged over the defaults (so one can be added without restating all).
    extra_routes: dict[str, str] = Field(default_factory=dict)
    my_page: dict[str, MyPagePart] = Field(default_factory=lambda: dict(DEFAULT_MY_PAGE))

    # Upstream HTTP: pooled connections, bounded waits.
    upstream_connect_timeout_s: float = 2.0
    upstream_timeout_s: float = 10.0  # the whole exchange, never longer
    upstream_max_connections: int = 100
    upstream_keepalive: int = 20
    max_body_bytes: int = 1_048_576

    # Circuit breaker per upstream: open after this many consecutive failures, let a trial
    # request through after the pause.
    breaker_threshold: int = 5
    breaker_pause_s: float = 15.0

    # Rate limits ("N/second|minute|hour", `;` separated for several). Storage: memory://
    # for one replica, redis://host:6379/0 (rediss:// for TLS) when replicated, so every
    # replica counts against one limit. Keys start with the prefix (sites sharing a Redis
    # use their own); past the timeout a replica counts by itself until Redis answers.
    rate_limit_storage: str = "memory://"
    rate_limit_prefix: str = "kohtaamo"
    rate_limit_storage_timeout_s: float = Field(default=0.5, gt=0)
    rate_limit_client: str = "300/minute"
    rate_limit_user: str = "600/minute"
    rate_limit_auth: str = "10/minute;50/hour"
    # Requests that get the stricter auth limit: "METHOD path" after /api/v1 (exact).
    # Password reset and email links too: each ask may send a mail, each use tries a token.
    auth_paths: list[str] = Field(
        default_factory=lambda: [
            "POST /auth/login",
            "POST /auth/signup",
            "POST /auth/refresh",
            "POST /auth/password/forgot",
            "POST /auth/password/reset",
            "POST /auth/email/verify",
            "POST /auth/oidc/callback",
        ]
    )
    # Reverse proxies (addresses or CIDR networks, e.g. the ingress controller's pod
    # network) whose X-Forwarded-For is believed; nobody's by default: the gateway is the
    # edge. Applied by uvicorn's proxy-header handling (kit.app).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Browser access.
    cors_origins: list[str] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    hsts_seconds: int = 0  # set when served over TLS

    openapi_cache_s: float = 60.0

    def route_table(self) -> dict[str, str]:
        table = {**self.routes, **self.extra_routes}
        unknown = {v.partition(":")[0] for v in table.values()} - set(SERVICES)
        if unknown:
            raise ValueError(f"routes name unknown services: {sorted(unknown)}")
        return {k.strip("/"): v for k, v in table.items()}
