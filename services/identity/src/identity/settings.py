"""Identity's settings (`KOHTAAMO_` environment variables). Secrets have no value in code."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from kit.settings import KitSettings

# Only for `kohtaamo seed`: the demo accounts' password on a development machine.
DEVELOPMENT_DEMO_PASSWORD = "kohtaamo-demo-2026"


class OidcProvider(BaseModel):
    """A municipality's OpenID Connect provider (its city login). See docs/identity.md."""

    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=500)
    client_secret: SecretStr
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    # Kohtaamo field -> the provider's claim: display_name, email, birthdate, language.
    claims: dict[str, str] = Field(
        default_factory=lambda: {
            "display_name": "name",
            "email": "email",
            "birthdate": "birthdate",
            "language": "locale",
        }
    )
    # The claim naming the level of assurance of the sign-in (Tunnistamo's `loa`, else `acr`)
    # and its values that mean strong identification: only then is the birth date verified.
    assurance_claim: str | None = None
    verified_levels: list[str] = Field(default_factory=list)
    # The button's text per language ("Helsinki-tunnus"); the municipality's name otherwise.
    label: dict[str, str] = Field(default_factory=dict)
    # Where the discovery document is, when not at the issuer's own well-known address.
    discovery_url: str | None = None


class IdentitySettings(KitSettings):
    service: str = "identity"

    # Keyed hash of user ids for the ESF participant profile (shared with analytics only).
    # Without it identity refuses to publish participant profiles.
    pseudonym_key: SecretStr | None = None
    # Encrypts the stored private signing keys. Required outside development.
    key_encryption_secret: SecretStr | None = None

    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # Signers' cache of the active key, so that a rotation on one replica reaches the others.
    signing_key_cache_s: float = 30.0

    # Argon2id cost (RFC 9106 second recommendation by default; tests lower it).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1

    # Password attempts per window before 429 (see identity/ratelimit.py and
    # docs/security.md): per (client address, account), per account from anywhere (its window
    # doubles each time it fills, up to the backoff ceiling) and per client address (high: a
    # library's public network is one address for all its visitors).
    login_window_s: int = 900
    login_max_failures_per_address_account: int = 5
    login_max_failures_per_account: int = 20
    login_max_backoff_s: int = 24 * 3600
    login_max_failures_per_address: int = 500
    # Where those counts are kept: "store" (identity's database) or a Redis URI
    # (redis://host:6379/0, rediss://...) shared by every identity replica; see
    # identity/ratelimit.py. A Redis that does not answer within the timeout is skipped for a
    # few seconds and the database counts meanwhile.
    login_throttle_storage: str = "store"
    login_throttle_prefix: str = "kohtaamo"
    login_throttle_timeout_s: float = Field(default=0.5, gt=0)

    # Services that answer user.erased with `<svc>.erasure.completed`.
    erasure_services: list[str] = Field(
        default_factory=lambda: ["events", "bookings", "notifications", "analytics"]
    )

    # City login (OpenID Connect) per municipality slug, as JSON; the client secrets are
    # secrets like the others (identity/oidc.py, docs/identity.md).
    oidc_providers: dict[str, OidcProvider] = Field(default_factory=dict)
    # Where providers send the browser back: the web UI, which hands code and state to
    # POST /auth/oidc/callback. Registered at each provider as the client's redirect URI.
    oidc_redirect_uri: str = "http://127.0.0.1:8000/app/"
    # Where a provider's logout sends the browser back (RP-initiated logout).
    oidc_post_logout_redirect_uri: str = "http://127.0.0.1:8000/app/"
    oidc_attempt_ttl_s: int = 600
    # A city login's account (no password) confirms an erasure by a sign-in this recent.
    recent_sign_in_s: int = 300
    oidc_leeway_s: int = 60
    oidc_metadata_cache_s: float = 3600.0
    oidc_http_timeout_s: float = 10.0

    # Email verification and password reset links (identity/account_links.py): their own
    # signing key, else one derived from key_encryption_secret; lifetimes; how many links
    # an account may be sent per hour.
    account_link_secret: SecretStr | None = None
    email_verification_ttl_s: int = 2 * 24 * 3600
    password_reset_ttl_s: int = 3600
    account_links_per_hour: int = 3

    # Demo accounts' password for `kohtaamo seed` only; real accounts choose their own.
    demo_password: SecretStr = SecretStr(DEVELOPMENT_DEMO_PASSWORD)
