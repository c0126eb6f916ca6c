"""Municipalities (tenants)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from identity import municipality as municipalities
from identity.core import Identity
from identity.municipality import MunicipalityIn, MunicipalityOut
from kit.auth import Principal
from kit.conditional import tag
from kit.pages import Page, Paging, listed


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(prefix="/municipalities", tags=["municipalities"])
    platform_admin = Depends(ctx.svc.auth.require("platform_admin"))
    pages_of_100 = Depends(Paging.of(100, 500))

    @api.get("", summary="Municipalities on this site (public)")
    async def list_all(request: Request, paging: Paging = pages_of_100) -> Page[MunicipalityOut]:
        """A site's municipalities (tens at most), by slug: read whole, so counted."""
        found = [municipalities.to_out(d) for d in await municipalities.list_all(ctx)]
        return Page[MunicipalityOut].model_validate(listed(request, ctx.settings, found, paging))

    @api.get("/{slug}", summary="One municipality (public)")
    async def get(slug: str, response: Response) -> MunicipalityOut:
        """One municipality by its slug (public); with its ETag."""
        found = await municipalities.get(ctx, slug, field="slug")
        tag(response, found)
        return municipalities.to_out(found)

    @api.post("", status_code=201, summary="Add a municipality (platform admin)")
    async def create(
        data: MunicipalityIn, principal: Principal = platform_admin
    ) -> MunicipalityOut:
        """Adds a municipality (a tenant) to the site: its slug, names, languages and time zone
        (platform admins)."""
        async with ctx.svc.audit.action(
            principal, "municipality.create", "municipality", data.slug, municipality=data.slug
        ) as entry:
            entry.any_transaction = True  # a new municipality tells no other service
            made = await municipalities.create(ctx, data)
        return municipalities.to_out(made)

    return api
