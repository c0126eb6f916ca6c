"""Mentor offers and the mentor directory. Publishing an offer is the opt-in: the
directory lists only active offers, searchable by skill and language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from contracts import identity as idc
from contracts.common import Skill
from identity.core import Identity
from identity.fields import Languages
from identity.profile import SkillIn, dedupe
from kit.requests import Strict


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


async def publish(ctx: Identity, user: dict[str, Any], data: OfferIn) -> OfferOut:
    offer = {
        "municipality": user["municipality"],
        "kind": data.kind.value,
        "topics": [t.model_dump(mode="json") for t in dedupe(data.topics)],
        "languages": list(dict.fromkeys(data.languages)),
        "bio": data.bio.strip(),
        "active": True,
        "updated_at": datetime.now(UTC),
    }
    async with ctx.svc.uow() as uow:
        session = uow.session
        await ctx.db.mentor_offers.update_one(
            {"_id": user["_id"]}, {"$set": offer}, upsert=True, session=session
        )
        await _emit(ctx, session, user, offer)
    return to_out(user, offer)


async def withdraw(ctx: Identity, user: dict[str, Any]) -> OfferOut | None:
    async with ctx.svc.uow() as uow:
        session = uow.session
        offer = await ctx.db.mentor_offers.find_one_and_update(
            {"_id": user["_id"], "active": True},
            {"$set": {"active": False, "updated_at": datetime.now(UTC)}},
            session=session,
        )
        if offer is None:
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
) -> list[OfferOut]:
    query: dict[str, Any] = {"municipality": municipality, "active": True}
    if skill:
        # Substring match on the normalised skill name: "python" finds "python for data".
        query["topics.skill"] = {"$regex": re.escape(" ".join(skill.lower().split()))}
    if language:
        query["languages"] = language
    offers = await ctx.db.mentor_offers.find(
        query, sort=[("updated_at", -1)], skip=offset, limit=limit
    ).to_list()
    users = {
        u["_id"]: u
        for u in await ctx.db.users.find(
            {"_id": {"$in": [o["_id"] for o in offers]}, "status": "active"}
        ).to_list()
    }
    return [to_out(users[o["_id"]], o) for o in offers if o["_id"] in users]
