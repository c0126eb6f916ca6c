"""Mentor offers and the mentor directory. Publishing an offer is the opt-in: the
directory lists only active offers, searchable by skill and language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from contracts import identity as idc
from contracts.common import Skill
from identity.core import Identity
from identity.fields import Languages
from identity.profile import SkillIn, dedupe
from kit.conditional import Precondition, bump, etag, stale
from kit.requests import Strict
from kit.uow import UnitOfWork


class MentorKind(StrEnum):
    peer_mentor = "peer_mentor"
    professional = "professional"


class OfferIn(Strict):
    kind: MentorKind = MentorKind.peer_mentor
    topics: list[SkillIn] = Field(min_length=1, max_length=30)
    languages: Languages = Field(min_length=1)
    bio: str = Field(default="", max_length=1000)


class OfferOut(BaseModel):
    user_id: str
    display_name: str
    municipality: str
    kind: MentorKind
    topics: list[SkillIn]
    languages: list[str]
    bio: str
    active: bool


def to_out(user: dict[str, Any], offer: dict[str, Any]) -> OfferOut:
    return OfferOut(
        user_id=user["_id"],
        display_name=user["display_name"],
        municipality=user["municipality"],
        kind=MentorKind(offer["kind"]),
        topics=[SkillIn.model_validate(t) for t in offer["topics"]],
        languages=offer["languages"],
        bio=offer["bio"],
        active=offer["active"],
    )


async def _emit(ctx: Identity, session: Any, user: dict[str, Any], offer: dict[str, Any]) -> None:
    await ctx.emit(
        session,
        idc.MENTOR_OFFER_CHANGED,
        idc.MentorOfferChanged(
            user_id=user["_id"],
            active=offer["active"],
            kind=offer["kind"],
            topics=[Skill.model_validate(t) for t in offer["topics"]],
            languages=offer["languages"],
        ),
        municipality=user["municipality"],
        subject=f"user/{user['_id']}",
    )


async def publish(
    ctx: Identity, user: dict[str, Any], data: OfferIn, precondition: Precondition | None = None
) -> tuple[OfferOut, str]:
    """Publish or change the offer; with `precondition` (If-Match) only over the revision
    it names (`"r0"`: none yet; 412 otherwise). The offer and its ETag."""
    precondition = precondition or Precondition(None)
    offer = {
        "municipality": user["municipality"],
        "kind": data.kind.value,
        "topics": [t.model_dump(mode="json") for t in dedupe(data.topics)],
        "languages": list(dict.fromkeys(data.languages)),
        "bio": data.bio.strip(),
        "active": True,
        "updated_at": datetime.now(UTC),
    }

    async def work(uow: UnitOfWork) -> dict[str, Any] | None:
        session = uow.session
        try:
            await ctx.db.mentor_offers.update_one(
                {"_id": user["_id"], **precondition.filter()},
                bump({"$set": offer}),
                upsert=True,
                session=session,
            )
        except DuplicateKeyError:
            if not precondition.given:  # two first saves at once: the other one's error
                raise
            # it exists, at another revision than If-Match names
            raise stale(await ctx.db.mentor_offers.find_one({"_id": user["_id"]})) from None
        saved = await ctx.db.mentor_offers.find_one({"_id": user["_id"]}, session=session)
        await _emit(ctx, session, user, offer)
        return saved

    # run again after a write conflict: with If-Match the loser is then refused (412)
    saved = await ctx.svc.uow.run(work)
    return to_out(user, offer), etag(saved or {})


async def withdraw(
    ctx: Identity, user: dict[str, Any], precondition: Precondition | None = None
) -> OfferOut | None:
    """Withdraw the active offer (None: there is none); with `precondition` (If-Match)
    only the revision it names (412 otherwise)."""
    precondition = precondition or Precondition(None)
    async with ctx.svc.uow() as uow:
        session = uow.session
        offer = await ctx.db.mentor_offers.find_one_and_update(
            {"_id": user["_id"], "active": True, **precondition.filter()},
            bump({"$set": {"active": False, "updated_at": datetime.now(UTC)}}),
            session=session,
        )
        if offer is None:
            found = await ctx.db.mentor_offers.find_one(
                {"_id": user["_id"], "active": True}, session=session
            )
            if found is not None:
                raise stale(found)
            return None
        offer["active"] = False
        await _emit(ctx, session, user, offer)
    return to_out(user, offer)


async def directory(
    ctx: Identity,
    municipality: str,
    *,
    skill: str | None,
    language: str | None,
    limit: int,
    offset: int,
) -> tuple[list[OfferOut], bool]:
    """A page of active offers, newest first, and whether more follow."""
    query: dict[str, Any] = {"municipality": municipality, "active": True}
    if skill:
        # Substring match on the normalised skill name: "python" finds "python for data".
        query["topics.skill"] = {"$regex": re.escape(" ".join(skill.lower().split()))}
    if language:
        query["languages"] = language
    offers = await ctx.db.mentor_offers.find(
        query, sort=[("updated_at", -1)], skip=offset, limit=limit + 1
    ).to_list()
    more = len(offers) > limit
    offers = offers[:limit]
    users = {
        u["_id"]: u
        for u in await ctx.db.users.find(
            {"_id": {"$in": [o["_id"] for o in offers]}, "status": "active"}
        ).to_list()
    }
    return [to_out(users[o["_id"]], o) for o in offers if o["_id"] in users], more
