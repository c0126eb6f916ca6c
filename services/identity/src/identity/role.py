"""Roles per municipality and who may change them. Pure rules; the API applies them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument

from contracts import identity as idc
from identity.core import Identity
from identity.errors import Conflict, Forbidden, Invalid, NotFound
from identity.revocation import end_access_tokens
from kit.auth import Principal
from kit.conditional import Precondition, bump, stale

MUNICIPAL_ROLES = ("resident", "mentor", "partner", "staff", "admin")
# `analyst` reads aggregates across the network; `platform_admin` runs the site itself
# (creates municipalities, rotates keys). Only a platform admin grants these.
NETWORK_ROLES = ("analyst", "platform_admin")
ALL_ROLES = MUNICIPAL_ROLES + NETWORK_ROLES


@dataclass(frozen=True)
class RoleChangeDenied(Exception):
    status: int
    detail: str
    field: str | None = None


def check_role_change(
    *,
    actor: Principal,
    target_id: str,
    target_municipality: str,
    role: str,
    grant: bool,
) -> None:
    """Raise RoleChangeDenied unless `actor` may grant/revoke `role` for the target."""
    if role not in ALL_ROLES:
        raise RoleChangeDenied(422, f"Unknown role {role}.", "role")
    platform = actor.has("platform_admin")
    if not platform and not actor.has("admin"):
        raise RoleChangeDenied(403, "Only admins change roles.")
    if not platform and actor.municipality != target_municipality:
        raise RoleChangeDenied(403, f"No access to municipality {target_municipality}.")
    if role in NETWORK_ROLES and not platform:
        raise RoleChangeDenied(403, f"Only a platform admin changes the {role} role.", "role")
    # An admin cannot lock themselves out; another admin has to do it.
    if not grant and target_id == actor.subject and role in ("admin", "platform_admin"):
        raise RoleChangeDenied(409, "You cannot revoke your own admin role.", "role")


async def change_role(
    ctx: Identity,
    actor: Principal,
    *,
    municipality: str,
    user_id: str,
    role: str,
    grant: bool,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Grant or revoke; with `precondition` (If-Match) only on the account's revision it
    names (412 otherwise, checked in the update's filter)."""
    precondition = precondition or Precondition(None)
    try:
        check_role_change(
            actor=actor,
            target_id=user_id,
            target_municipality=municipality,
            role=role,
            grant=grant,
        )
    except RoleChangeDenied as denied:
        # The kind's own title (docs/api.md, Refusals), the reason in the detail.
        kind = {403: Forbidden, 409: Conflict}.get(denied.status, Invalid)
        raise kind(denied.detail, field=denied.field) from None
    now = datetime.now(UTC)
    found = {"_id": user_id, "municipality": municipality, "status": "active"}
    update = {"$addToSet": {"roles": role}} if grant else {"$pull": {"roles": role}}
    async with ctx.svc.uow() as uow:
        session = uow.session
        before = await ctx.db.users.find_one(found, session=session)
        if before is None:
            raise NotFound(f"No user {user_id} in {municipality}.")
        precondition.check(before)
        if (role in before["roles"]) == grant:
            return before  # nothing changes, nothing to tell
        user = await ctx.db.users.find_one_and_update(
            {**found, **precondition.filter()},
            bump({**update, "$set": {"updated_at": now}}),
            session=session,
            return_document=ReturnDocument.AFTER,
        )
        if user is None:  # changed since it was read: only a precondition can miss
            raise stale(await ctx.db.users.find_one(found, session=session))
        roles = sorted(user["roles"])
        model = idc.RoleGranted if grant else idc.RoleRevoked
        type_ = idc.ROLE_GRANTED if grant else idc.ROLE_REVOKED
        change = model(
            user_id=user_id, role=role, roles=roles, changed_by=actor.subject, changed_at=now
        )
        subject = f"user/{user_id}"
        await ctx.emit(session, type_, change, municipality=municipality, subject=subject)
        await ctx.emit(
            session,
            idc.USER_ROLES_CHANGED,
            idc.UserRolesChanged(user_id=user_id, roles=roles),
            municipality=municipality,
            subject=subject,
        )
        if not grant:
            # Tokens still name the role: every service refuses them; a refresh gives a
            # token with the roles the user has now.
            await end_access_tokens(ctx, session, user, idc.RevocationReason.role_removed, now)
    return user
