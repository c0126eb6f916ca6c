"""Identity's HTTP API: thin routers that parse, check role and tenant, and call the domain."""

from __future__ import annotations

from fastapi import APIRouter

from identity.api import (
    account,
    auth,
    city_login,
    consents,
    gdpr,
    keys,
    municipalities,
    organisations,
    profiles,
    users,
)
from identity.core import Identity


def build(ctx: Identity) -> APIRouter:
    router = APIRouter()
    for module in (
        keys,
        municipalities,
        auth,
        account,
        city_login,
        users,
        profiles,
        organisations,
        consents,
        gdpr,
    ):
        router.include_router(module.router(ctx))
    return router
