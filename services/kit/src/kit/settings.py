"""Settings from the environment (`KOHTAAMO_` prefix); secrets never live in code."""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kit.signatures import EventSigner, public_jwk

# Default HTTP port per service on one machine.
DEFAULT_PORTS = {
    "gateway": 8000,
    "identity": 8001,
    "events": 8002,
    "bookings": 8003,
    "notifications": 8004,
    "analytics": 8005,
}

# The demo data's municipalities: a platform on one machine (`make run`, compose, tests)
# is one site serving both.
DEMO_MUNICIPALITIES = ("helsinki", "kouvola")


class TrustedIssuer(BaseModel):
    """A token issuer whose tokens this site accepts: its own identity or a partner's."""

    issuer: str
    jwks_url: str


class KitSettings(BaseSettings):
    """What every service needs. A service subclasses this for its own settings."""

    model_config = SettingsConfigDict(
        env_prefix="KOHTAAMO_", env_nested_delimiter="__", extra="ignore"
    )

    service: str = "kit"
    environment: str = "development"
    # The municipality this site serves by default (records always carry their own).
    municipality: str = "helsinki"
    # Every municipality this site serves: consumers act only on messages of these
    # (federation also brings partners' messages; a network-wide consumer acts on all).
    # Empty: just `municipality`, which is always included. Env: `a,b` or a JSON list.
    municipalities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    timezone: str = "Europe/Helsinki"

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # A file holding the broker user's password, which then replaces the password in
    # amqp_url (docker compose generates one per service into a volume; see
    # deploy/rabbitmq/apply.py compose). Empty: the password is the URL's own.
    amqp_password_file: str = ""
    # Each service of the site connects as `<prefix><service>` (kit.broker_users); a
    # consumer accepts a message only from its type's producer's user (or its own).
    broker_user_prefix: str = "kohtaamo-"
    # Event signatures (kit.signatures). The site's name (default: its municipality), the
    # services it runs (whose events its key may sign; empty: any), and its current
    # private signing key, an Ed25519 JWK with kid `<site>:<version>` (JSON). Without a
    # key this site's events go unsigned: partners, and its own consumers for a message
    # that did not come from its producer's broker user (a retry, a replay), refuse them.
    site: str = ""
    site_services: list[str] = Field(default_factory=list)
    # The municipalities this site's producers speak for, when more than this service
    # serves: Helsinki's identity serves Kouvola's users, so Helsinki's bookings (serving
    # helsinki) must accept identity's erasure of a Kouvola user (network-wide, by the
    # person). Empty: `municipalities`. Env: `a,b` or a JSON list.
    site_municipalities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    event_signing_key: SecretStr = SecretStr("")
    # More public keys of this site (the next or previous key during a rotation), a JWKS.
    event_site_jwks: dict[str, Any] = Field(default_factory=lambda: {"keys": []})
    # Partner sites whose signed events are accepted: site, municipalities, services,
    # jwks or jwks_url. This site (its municipalities, its keys) is always trusted.
    event_signers: list[EventSigner] = Field(default_factory=list)
    event_keys_min_refresh_s: float = Field(default=30.0, ge=0)
    # An envelope whose `time` is further ahead of this site's clock is refused: no
    # latest-wins decision trusts a sender's clock beyond this.
    max_clock_skew_s: float = Field(default=300.0, ge=0)
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    # Database name; empty means `kohtaamo_<service>`. Tests set a prefix per run.
    mongo_db: str = ""
    mongo_db_prefix: str = ""
    # What the store is: MongoDB (a replica set or sharded cluster) or the embedded store of
    # development and tests (SecantusDB). `auto`: asked once when the client is made (its
    # buildInfo names it); no answer in time means MongoDB's options. See kit/mongo.py.
    mongo_kind: Literal["auto", "mongodb", "embedded"] = "auto"
    # Retryable writes: None means by kind (on for MongoDB, off for the embedded store,
    # which does not support them).
    mongo_retry_writes: bool | None = None
    # Connections per process: None means by kind (100, the driver's default, for MongoDB;
    # 8 for the embedded store, which slows down badly with many connections).
    mongo_pool_size: int | None = Field(default=None, gt=0)
    # Server selection and connect timeout; socket timeout (None: wait as long as the
    # operation takes, the driver's default).
    mongo_timeout_ms: int = Field(default=3000, gt=0)
    mongo_socket_timeout_ms: int | None = Field(default=None, gt=0)

    host: str = "127.0.0.1"
    port: int = 0  # 0: the service's default port
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed (uvicorn's proxy-header handling, kit.app): the
    # gateway on the same machine by default; in Kubernetes the pod network. Env: `a,b` or
    # a JSON list. The gateway, the edge, trusts nobody unless told.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"]
    )

    log_format: str = "auto"  # auto | json | console
    # The source revision the image was built from (the Dockerfile's REVISION build
    # argument); shown in kohtaamo_build_info.
    build_revision: str = ""
    log_level: str = "INFO"

    prefetch: int = 32
    retry_delays_ms: list[int] = Field(default_factory=lambda: [1000, 5000, 30000])
    # Backstop for crash loops (a handler that kills the process): the quorum queue's
    # delivery limit dead-letters a message redelivered this many times.
    delivery_limit: int = 10
    publish_timeout_s: float = 10.0
    # Larger messages are dead-lettered unread (reason "oversized"): no event needs more.
    max_message_bytes: int = 1_000_000
    # Largest request body a service's HTTP port takes (413 above it); see kit.bodylimit.
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # Updates without If-Match are refused with 428 when set (kit.conditional); off by
    # default so clients written before ETags keep working (docs/architecture.md).
    require_if_match: bool = False
    # How long an Idempotency-Key's first answer is kept for replays (kit.idempotency).
    idempotency_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # A consumer holding unacked messages with none settled for this long is stalled: it
    # is reported by /readyz and a metric, and the kit restarts its work (the held
    # messages are requeued; the queue's delivery limit bounds a message that always
    # stalls). Longer than any handler or batch takes.
    consumer_stall_s: float = Field(default=120.0, gt=0)

    outbox_poll_s: float = 0.5
    # Large: the embedded store reads every pending entry for each batch (its planner
    # does not stop an index scan at the limit), so a backlog drains in fewer reads.
    outbox_batch: int = Field(default=1000, gt=0)
    # One replica's relay publishes; a standby takes over this long after it stops renewing.
    outbox_lease_s: float = Field(default=10.0, gt=0)
    # An event nobody subscribes to (a site running only some services) is parked after
    # this many unroutable attempts (about 15 minutes of backoff) instead of retried
    # forever; operators list and unpark parked entries. 0: never park.
    outbox_park_after: int = Field(default=10, ge=0)
    # Parked entries may name people: dropped after this many days (and on erasure).
    outbox_parked_retention_days: float = Field(default=30.0, gt=0)
    # The audit log of privileged actions (kit.audit): entries are kept this many days (a
    # TTL index; a changed setting applies to the entries already there), and an export
    # holds at most this many.
    audit_retention_days: float = Field(default=730.0, gt=0, le=36_500)
    audit_export_max_rows: int = Field(default=50_000, gt=0, le=1_000_000)

    # The site's public origin (https://kohtaamo.example.fi) and the prefix under which the
    # gateway serves the services' paths there: the base of every link a user or partner
    # receives (kit.links). Empty: taken from a trusted proxy's X-Forwarded-* headers.
    public_url: str = ""
    public_api_prefix: str = "/api/v1"

    # This site's identity service: its URL is its token issuer (`iss`), and its JWKS is at
    # /.well-known/jwks.json. Partner issuers are added in `trusted_issuers`.

    identity_url: str = "http://127.0.0.1:8001"
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    trust_own_identity: bool = True
    token_audience: str = "kohtaamo"
    jwks_cache_s: float = 300.0
    jwks_min_refresh_s: float = 5.0
    # Revoked access tokens (kit.revocation): how long an entry is kept (longer than any
    # access token lives, identity's KOHTAAMO_ACCESS_TOKEN_TTL_S) and how often each
    # replica reloads the entries other replicas' consumers wrote.
    revocation_keep_s: float = Field(default=3600.0, gt=0)
    revocation_refresh_s: float = Field(default=2.0, gt=0)

    @field_validator("municipalities", "site_municipalities", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        # Normalised, and refused when malformed: uvicorn would silently take a typo for a
        # host name that never matches (or "*" for everyone).
        networks = []
        for entry in value:
            try:
                networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {entry!r}") from None
        return networks

    @model_validator(mode="after")
    def _amqp_password_from_file(self) -> KitSettings:
        if self.amqp_password_file:
            try:
                with open(self.amqp_password_file, encoding="utf-8") as file:
                    password = file.read().strip()
            except OSError as exc:
                raise ValueError(f"amqp_password_file: cannot read it ({exc.strerror})") from None
            if not password:
                raise ValueError("amqp_password_file: the file is empty")
            parts = urlsplit(self.amqp_url.get_secret_value())
            user = parts.username or ""
            host = parts.netloc.rsplit("@", 1)[-1]
            netloc = f"{user}:{quote(password, safe='')}@{host}"
            self.amqp_url = SecretStr(urlunsplit(parts._replace(netloc=netloc)))
        return self

    @model_validator(mode="after")
    def _serve_own_municipality(self) -> KitSettings:
        # The site's own municipality first, then the others, each once.
        self.municipalities = list(dict.fromkeys([self.municipality, *self.municipalities]))
        return self

    def serves(self, municipality: str) -> bool:
        """Whether this site acts on messages of `municipality`."""
        return municipality in self.municipalities

    def issuers(self) -> list[TrustedIssuer]:
        """Own identity (unless turned off) and the configured partner issuers."""
        own = TrustedIssuer(
            issuer=self.identity_url.rstrip("/"),
            jwks_url=self.identity_url.rstrip("/") + "/.well-known/jwks.json",
        )
        configured = [i for i in self.trusted_issuers if i.issuer != own.issuer]
        return ([own] if self.trust_own_identity else []) + configured

    def site_name(self) -> str:
        return self.site or self.municipality

    def signing_jwk(self) -> dict[str, Any] | None:
        text = self.event_signing_key.get_secret_value()
        return json.loads(text) if text else None

    def site_jwks(self) -> dict[str, Any]:
        """This site's public event keys: the signing key's and those of a rotation."""
        keys = list(self.event_site_jwks.get("keys", []))
        own = self.signing_jwk()
        if own is not None and all(k.get("kid") != own.get("kid") for k in keys):
            keys.insert(0, public_jwk(own))
        return {"keys": [public_jwk(k) for k in keys]}

    def trusted_signers(self) -> list[EventSigner]:
        own = EventSigner(
            site=self.site_name(),
            municipalities=sorted({*self.municipalities, *self.site_municipalities}),
            services=self.site_services,
            jwks=self.site_jwks(),
        )
        return [own, *(s for s in self.event_signers if s.site != own.site)]

    def database_name(self) -> str:
        return self.mongo_db or f"{self.mongo_db_prefix}kohtaamo_{self.service}"

    def http_port(self) -> int:
        return self.port or DEFAULT_PORTS.get(self.service, 8080)
