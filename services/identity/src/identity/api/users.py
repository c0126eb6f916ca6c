"""The caller's account, and users of a municipality for its staff and admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from identity import birthdate as birthdates
from identity import role as roles
from identity import user as users
from identity.api.deps import caller_address, own_account
from identity.birthdate import BirthdateIn, BirthdateOut
from identity.core import Identity
from identity.user import ContactIn, PasswordChange, UserOut
from kit.auth import Principal, ensure_municipality
from kit.conditional import Edit, Editing, Precondition, if_match, tag
from kit.pages import Page, Paging, page


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["users"])
    signed_in = Depends(ctx.svc.auth.principal)
    staff = Depends(ctx.svc.auth.require("staff", "admin"))
    pages_of_50 = Depends(Paging.of(50, 200))
    admin = Depends(ctx.svc.auth.require("admin", "platform_admin"))
    # The municipality's own admins only (a platform admin runs the site, not its people).
    own_admin = Depends(ctx.svc.auth.require("admin"))

    @api.get("/me", summary="My account")
    async def me(response: Response, principal: Principal = signed_in) -> UserOut:
        """The caller's own account; with its ETag for If-Match on changes."""
        account = await own_account(ctx, principal)
        tag(response, account)
        return users.to_out(account)

    @api.patch("/me/contact", summary="Change my contact details and notification preferences")
    async def contact(data: ContactIn, edit: Editing, principal: Principal = signed_in) -> UserOut:
        """Changes the caller's display name, phone, language and notification preferences; honours
        If-Match."""
        account = await own_account(ctx, principal)
        changed = await users.update_contact(ctx, account["_id"], data, edit.precondition)
        return users.to_out(edit.tagged(changed))

    @api.put(
        "/me/birthdate",
        summary="Give my birth date (self-declared) for resources with an age limit",
        description="The next access token (after a refresh) carries it as `birthdate`.",
    )
    async def give_birthdate(
        data: BirthdateIn,
        precondition: Annotated[Precondition, Depends(if_match)],
        principal: Principal = signed_in,
    ) -> BirthdateOut:
        account = await own_account(ctx, principal)
        return await birthdates.declare(ctx, account["_id"], data.birthdate, precondition)

    @api.put(
        "/me/password",
        status_code=204,
        summary="Change my password (ends other sessions)",
        responses={429: {"description": "Too many wrong passwords; see Retry-After"}},
    )
    async def password(
        data: PasswordChange, request: Request, principal: Principal = signed_in
    ) -> Response:
        """Changes the caller's password (the current one is required); other sessions end."""
        account = await own_account(ctx, principal)
        await users.change_password(ctx, account["_id"], data, address=caller_address(request))
        return Response(status_code=204)

    @api.get(
        "/municipalities/{municipality}/users",
        name="list",
        summary="Users of a municipality (staff)",
    )
    async def list_users(
        request: Request,
        municipality: str,
        role: str | None = Query(default=None, max_length=40),
        paging: Paging = pages_of_50,
        principal: Principal = staff,
    ) -> Page[UserOut]:
        """The active users of a municipality, optionally of one role, a page at a time with the
        total (staff of that municipality)."""
        ensure_municipality(principal, municipality)
        query: dict[str, Any] = {"municipality": municipality, "status": "active"}
        if role:
            query["roles"] = role
        limit, offset = paging.limit, paging.offset
        found = ctx.db.users.find(query, sort=[("created_at", 1)], skip=offset, limit=limit)
        items = [users.to_out(u) for u in await found.to_list()]
        # A municipality's accounts (the prefix of the user_email index): cheap to count.
        total = await ctx.db.users.count_documents(query)
        answer = page(request, ctx.settings, items, limit=limit, offset=offset, total=total)
        return Page[UserOut].model_validate(answer)

    @api.get("/municipalities/{municipality}/users/{user_id}", summary="One user (staff)")
    async def get_user(
        municipality: str, user_id: str, response: Response, principal: Principal = staff
    ) -> UserOut:
        """One user of a municipality (staff of that municipality); with its ETag."""
        ensure_municipality(principal, municipality)
        found = await users.get_active(ctx, user_id, municipality)
        tag(response, found)
        return users.to_out(found)

    async def change_role(
        municipality: str,
        user_id: str,
        role: str,
        grant: bool,
        edit: Edit,
        principal: Principal,
    ) -> UserOut:
        """A grant or a revoke, with its audit entry in its transaction."""
        action = "role.grant" if grant else "role.revoke"
        async with ctx.svc.audit.action(
            principal, action, "user", user_id, municipality=municipality, role=role
        ) as entry:
            # A no-op (the role already so) commits without events: still the action's.
            entry.any_transaction = True
            changed = await roles.change_role(
                ctx,
                principal,
                municipality=municipality,
                user_id=user_id,
                role=role,
                grant=grant,
                precondition=edit.precondition,
            )
        return users.to_out(edit.tagged(changed))

    @api.put(
        "/municipalities/{municipality}/users/{user_id}/roles/{role}",
        summary="Grant a role (admins, in their own municipality)",
    )
    async def grant(
        municipality: str, user_id: str, role: str, edit: Editing, principal: Principal = admin
    ) -> UserOut:
        """Grants a role to a user (admins, in their own municipality); 422 for an unknown role."""
        return await change_role(municipality, user_id, role, True, edit, principal)

    @api.delete(
        "/municipalities/{municipality}/users/{user_id}/roles/{role}",
        summary="Revoke a role (admins, in their own municipality)",
    )
    async def revoke(
        municipality: str, user_id: str, role: str, edit: Editing, principal: Principal = admin
    ) -> UserOut:
        """Revokes a role from a user (admins, in their own municipality); an admin cannot revoke
        their own admin role (409)."""
        return await change_role(municipality, user_id, role, False, edit, principal)

    async def set_disabled(
        municipality: str, user_id: str, disabled: bool, principal: Principal
    ) -> UserOut:
        """A disable or an enable, with its audit entry in its transaction."""
        ensure_municipality(principal, municipality)
        action = "user.disable" if disabled else "user.enable"
        async with ctx.svc.audit.action(principal, action, "user", user_id) as entry:
            # An enable tells no other service, and a no-op commits nothing: the
            # transaction is the action's all the same.
            entry.any_transaction = True
            changed = await users.set_disabled(ctx, principal, user_id, municipality, disabled)
        return users.to_out(changed)

    @api.post(
        "/municipalities/{municipality}/users/{user_id}/disable",
        summary="Disable an account: no login, every session and token ends (admins)",
    )
    async def disable(municipality: str, user_id: str, principal: Principal = own_admin) -> UserOut:
        """Disables an account: it cannot log in and every session and token of it ends (admins, in
        their own municipality)."""
        return await set_disabled(municipality, user_id, True, principal)

    @api.post(
        "/municipalities/{municipality}/users/{user_id}/enable",
        summary="Enable a disabled account again (admins)",
    )
    async def enable(municipality: str, user_id: str, principal: Principal = own_admin) -> UserOut:
        """Enables a disabled account again (admins, in their own municipality)."""
        return await set_disabled(municipality, user_id, False, principal)

    return api
