"""Organisations and their members."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from identity import organisation as orgs
from identity.core import Identity
from identity.organisation import MemberIn, OrganisationIn, OrganisationKind, OrganisationOut
from kit.auth import Principal
from kit.conditional import Editing, tag
from kit.pages import Page, Paging, page


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(prefix="/organisations", tags=["organisations"])
    signed_in = Depends(ctx.svc.auth.principal)
    pages_of_50 = Depends(Paging.of(50, 200))

    @api.post("", status_code=201, summary="Register an organisation (I become its contact)")
    async def register(data: OrganisationIn, principal: Principal = signed_in) -> OrganisationOut:
        """Registers an organisation in the caller's municipality, the caller as its contact."""
        return await orgs.to_out(ctx, await orgs.register(ctx, principal, data), principal)

    @api.get("", name="list", summary="Organisations of my municipality")
    async def list_all(
        request: Request,
        kind: OrganisationKind | None = Query(default=None),
        paging: Paging = pages_of_50,
        principal: Principal = signed_in,
    ) -> Page[OrganisationOut]:
        """The organisations of the caller's municipality, a page at a time with the total."""
        query: dict[str, str] = {"municipality": principal.municipality}
        if kind:
            query["kind"] = kind.value
        limit, offset = paging.limit, paging.offset
        found = await ctx.db.organisations.find(
            query, sort=[("name", 1)], skip=offset, limit=limit
        ).to_list()
        items = [await orgs.to_out(ctx, o, principal) for o in found]
        # A municipality's organisations (its index): cheap to count.
        total = await ctx.db.organisations.count_documents(query)
        answer = page(request, ctx.settings, items, limit=limit, offset=offset, total=total)
        return Page[OrganisationOut].model_validate(answer)

    @api.get("/{org_id}", summary="One organisation (members for members and staff)")
    async def get(
        org_id: str, response: Response, principal: Principal = signed_in
    ) -> OrganisationOut:
        """One organisation; its members are shown to its members and staff only."""
        org = await orgs.get(ctx, principal, org_id)
        tag(response, org)
        return await orgs.to_out(ctx, org, principal)

    @api.post("/{org_id}/members", summary="Add or change a member (contacts and staff)")
    async def add_member(
        org_id: str, data: MemberIn, edit: Editing, principal: Principal = signed_in
    ) -> OrganisationOut:
        """Adds a member to an organisation or changes their role in it (its contacts and staff)."""
        org = await orgs.add_member(ctx, principal, org_id, data, edit.precondition)
        return await orgs.to_out(ctx, edit.tagged(org), principal)

    @api.delete("/{org_id}/members/{user_id}", summary="Remove a member, or leave")
    async def remove_member(
        org_id: str, user_id: str, edit: Editing, principal: Principal = signed_in
    ) -> OrganisationOut:
        """Removes a member from an organisation, or lets a member leave; the last contact cannot
        leave (409)."""
        org = await orgs.remove_member(ctx, principal, org_id, user_id, edit.precondition)
        return await orgs.to_out(ctx, edit.tagged(org), principal)

    return api
