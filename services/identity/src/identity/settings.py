"""Identity's settings (`KOHTAAMO_` environment variables). Secrets have no value in code."""

from __future__ import annotations

from pydantic import Field, SecretStr

from kit.settings import KitSettings

# Only for `kohtaamo seed`: the demo accounts' password on a development machine.
DEVELOPMENT_DEMO_PASSWORD = "kohtaamo-demo-2026"


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

    # Demo accounts' password for `kohtaamo seed` only; real accounts choose their own.
    demo_password: SecretStr = SecretStr(DEVELOPMENT_DEMO_PASSWORD)
