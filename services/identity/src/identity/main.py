"""The composition root of the identity service."""

from __future__ import annotations

from identity import account_links, api, city_login, handlers
from identity.api.problems import problem_of
from identity.core import Identity
from identity.errors import IdentityError
from identity.settings import IdentitySettings
from identity.store import ensure_indexes
from kit import audit
from kit.app import Service

DESCRIPTION = (
    "Municipalities, users, roles, sign-up and login, token issuing (JWKS), profiles, mentor "
    "offers, organisations, consents, the ESF participant profile, GDPR export and erasure."
)


def service(settings: IdentitySettings | None = None) -> Service[IdentitySettings]:
    settings = settings or IdentitySettings()
    svc = Service("identity", settings=settings, description=DESCRIPTION)
    ctx = svc.provide(Identity.build(svc))  # found with svc.part(Identity)
    # Identity checks its own tokens against its own keys, without an HTTP call to itself.
    svc.verifier.trust(ctx.sessions.issuer, ctx.keys.jwks)
    svc.include_router(api.build(ctx))
    svc.include_router(audit.router(svc))
    svc.map_errors(IdentityError, problem_of)  # the domain's errors as problem+json
    handlers.register(svc, ctx)

    @svc.on_startup
    async def prepare() -> None:
        await ensure_indexes(svc.store.db)
        await ctx.sessions.ensure_indexes()
        await city_login.ensure_indexes(ctx)
        await account_links.ensure_indexes(ctx)
        await ctx.keys.ensure()

    svc.on_shutdown(ctx.throttle.close)
    return svc
