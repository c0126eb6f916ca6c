"""Organisations (associations, NGOs, start-ups, companies) and their members. The person
who registers one becomes its contact; contacts and the municipality's staff manage members."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from contracts import identity as idc
from identity.core import Identity
from identity.errors import Conflict, Forbidden, Invalid, NotFound
from identity.fields import Name
from kit.auth import Principal, ensure_municipality
from kit.conditional import REVISION, Precondition, bump, revision_of
from kit.requests import Strict

WEIGHTS = (7, 9, 10, 5, 8, 4, 2)


class OrganisationKind(StrEnum):
    association = "association"
    ngo = "ngo"
    startup = "startup"
    sme = "sme"  # a company
    public = "public"
    other = "other"


class MemberRole(StrEnum):
    contact = "contact"
    member = "member"


def business_id_valid(value: str) -> bool:
    """Finnish business id (Y-tunnus): seven digits, a dash and a modulus-11 check digit."""
    if len(value) != 9 or value[7] != "-" or not (value[:7] + value[8]).isdigit():
        return False
    remainder = sum(int(d) * w for d, w in zip(value[:7], WEIGHTS, strict=True)) % 11
    if remainder == 1:
        return False
    return int(value[8]) == (0 if remainder == 0 else 11 - remainder)


def _business_id(value: str | None) -> str | None:
    if value is not None and not business_id_valid(value.strip()):
        raise ValueError("not a valid Finnish business id (1234567-8)")
    return value.strip() if value else None


class OrganisationIn(Strict):
    name: Name
    kind: OrganisationKind
    business_id: Annotated[str | None, AfterValidator(_business_id)] = None
    size_band: str | None = Field(default=None, pattern=r"^(1|2-9|10-49|50-249|250\+)$")
    description: str = Field(default="", max_length=2000)


class MemberIn(Strict):
    user_id: str = Field(min_length=1, max_length=64)
    role: MemberRole = MemberRole.member


class Member(BaseModel):
    user_id: str
    role: MemberRole
    display_name: str | None = None


class OrganisationOut(BaseModel):
    id: str
    municipality: str
    name: str
    kind: OrganisationKind
    business_id: str | None
    size_band: str | None
    description: str
    members: list[Member] | None = None  # only for members and staff


def may_manage(principal: Principal, org: dict[str, Any]) -> bool:
    if principal.municipality != org["municipality"]:
        return False
    if principal.has("staff", "admin"):
        return True
    return any(
        m["user_id"] == principal.subject and m["role"] == MemberRole.contact
        for m in org["members"]
    )


def may_see_members(principal: Principal, org: dict[str, Any]) -> bool:
    return may_manage(principal, org) or any(
        m["user_id"] == principal.subject for m in org["members"]
    )


async def to_out(ctx: Identity, org: dict[str, Any], principal: Principal) -> OrganisationOut:
    members = None
    if may_see_members(principal, org):
        ids = [m["user_id"] for m in org["members"]]
        names = {
            u["_id"]: u["display_name"]
            for u in await ctx.db.users.find(
                {"_id": {"$in": ids}, "status": "active"}, projection={"display_name": 1}
            ).to_list()
        }
        members = [
            Member(user_id=m["user_id"], role=m["role"], display_name=names.get(m["user_id"]))
            for m in org["members"]
        ]
    return OrganisationOut(
        id=org["_id"],
        municipality=org["municipality"],
        name=org["name"],
        kind=org["kind"],
        business_id=org.get("business_id"),
        size_band=org.get("size_band"),
        description=org.get("description", ""),
        members=members,
    )


async def register(ctx: Identity, principal: Principal, data: OrganisationIn) -> dict[str, Any]:
    municipality = principal.municipality
    if data.business_id and await ctx.db.organisations.find_one(
        {"municipality": municipality, "business_id": data.business_id}
    ):
        raise Conflict(
            "This business id is registered here.", field="business_id", title="Already registered"
        )
    org = {
        "_id": uuid.uuid4().hex,
        "municipality": municipality,
        "name": data.name,
        "kind": data.kind.value,
        "business_id": data.business_id,
        "size_band": data.size_band,
        "description": data.description,
        "members": [{"user_id": principal.subject, "role": MemberRole.contact.value}],
        "created_by": principal.subject,
        "created_at": datetime.now(UTC),
    }
    async with ctx.svc.uow() as uow:
        session = uow.session
        await ctx.db.organisations.insert_one(org, session=session)
        await ctx.emit(
            session,
            idc.ORGANISATION_REGISTERED,
            idc.OrganisationRegistered(
                organisation_id=org["_id"], kind=org["kind"], size_band=org["size_band"]
            ),
            municipality=municipality,
            subject=f"organisation/{org['_id']}",
        )
    return org


_MEMBER_ATTEMPTS = 8  # rereads when other changes keep coming first


async def get(ctx: Identity, principal: Principal, org_id: str) -> dict[str, Any]:
    org = await ctx.db.organisations.find_one({"_id": org_id})
    if org is None:
        raise NotFound("No such organisation.")
    ensure_municipality(principal, org["municipality"])
    return org


async def add_member(
    ctx: Identity,
    principal: Principal,
    org_id: str,
    data: MemberIn,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    org = await get(ctx, principal, org_id)
    if not may_manage(principal, org):
        raise Forbidden("Only the organisation's contacts or staff add members.")
    member = await ctx.db.users.find_one(
        {"_id": data.user_id, "municipality": org["municipality"], "status": "active"}
    )
    if member is None:
        raise Invalid("No such user in this municipality.", field="user_id", title="Unknown user")

    def added(current: dict[str, Any]) -> list[dict[str, Any]]:
        members = [m for m in current["members"] if m["user_id"] != data.user_id]
        members.append({"user_id": data.user_id, "role": data.role.value})
        return members

    return await _change_members(ctx, principal, org_id, added, precondition)


async def remove_member(
    ctx: Identity,
    principal: Principal,
    org_id: str,
    user_id: str,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    leaving_self = principal.subject == user_id

    def removed(current: dict[str, Any]) -> list[dict[str, Any]]:
        if not (leaving_self or may_manage(principal, current)):
            raise Forbidden("Only the organisation's contacts or staff remove members.")
        members = [m for m in current["members"] if m["user_id"] != user_id]
        if len(members) == len(current["members"]):
            raise NotFound("Not a member.")
        if not any(m["role"] == MemberRole.contact for m in members):
            raise Conflict("An organisation needs at least one contact.", title="Last contact")
        return members

    return await _change_members(ctx, principal, org_id, removed, precondition)


async def _change_members(
    ctx: Identity,
    principal: Principal,
    org_id: str,
    change: Callable[[dict[str, Any]], list[dict[str, Any]]],
    precondition: Precondition | None,
) -> dict[str, Any]:
    """Write the member list `change` makes of the organisation as read, at the revision
    read: a change made meanwhile (two staff members adding people at once) is read again
    and kept, never overwritten; with If-Match, a version other than the one it names is
    412 instead."""
    precondition = precondition or Precondition(None)
    for _ in range(_MEMBER_ATTEMPTS):
        org = await get(ctx, principal, org_id)
        precondition.check(org)
        members = change(org)
        done = await ctx.db.organisations.update_one(
            {"_id": org_id, REVISION: org.get(REVISION)},
            bump({"$set": {"members": members}}),
        )
        if done.matched_count:
            return {**org, "members": members, REVISION: revision_of(org) + 1}
    raise Conflict("The organisation was changed repeatedly meanwhile; try again.", retry_after=1)
